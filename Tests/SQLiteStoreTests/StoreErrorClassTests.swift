@testable import SQLiteBackend
import SQLiteStore
import SyncEngine
import Testing

/// What the SQLite store tells the domain of its errors: the file busy, full or unreadable
/// is `storageUnavailable` (503: retry), a broken constraint or a statement that does not
/// prepare is a bug, `unexpected` (500, logged).
struct StoreErrorClassTests {
    @Test func unavailableOrUnexpected() {
        for code: Int32 in [5, 6, 10, 13, 14, 2570 /* IOERR_FSYNC... extended 10 */] {
            #expect(SQLiteSyncStore.classify(SQLiteError(extendedCode: code, message: "m")) == .storageUnavailable, "\(code)")
        }
        for code: Int32 in [1, 19, 2067 /* CONSTRAINT_UNIQUE */, 21 /* MISUSE */, 25 /* RANGE */] {
            guard case .unexpected(let detail) = SQLiteSyncStore.classify(SQLiteError(extendedCode: code, message: "m")) else {
                Issue.record("\(code) is not unexpected")
                continue
            }
            #expect(detail.contains("m"))
        }
        #expect(SQLiteSyncStore.classify(SyncError.notMember) == .notMember)
    }
}
