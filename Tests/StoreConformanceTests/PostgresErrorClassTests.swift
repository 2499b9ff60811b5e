@testable import PostgresBackend
import SyncEngine
import Testing

/// What the PostgreSQL store tells the domain of its errors: the server away, busy, out of
/// resources or shutting down is `storageUnavailable` (503: retry); a broken constraint, a
/// statement that does not run or a function's own RAISE is a bug, `unexpected` (500, logged).
/// No server needed.
struct PostgresErrorClassTests {
    @Test func unavailableOrUnexpected() {
        let gone = PGError(sqlState: nil, message: "server closed the connection", connectionLost: true)
        #expect(PostgresSyncStore.classify(gone) == .storageUnavailable)
        for state in ["40001", "40P01", "55P03", "08006", "53300", "57P01", "58030", "XX000"] {
            let e = PGError(sqlState: state, message: "m", connectionLost: false)
            #expect(PostgresSyncStore.classify(e) == .storageUnavailable, "\(state)")
        }
        for state in ["23505", "42P01", "42883", "P0001", "22P02"] {
            let e = PGError(sqlState: state, message: "m", connectionLost: false)
            guard case .unexpected(let detail) = PostgresSyncStore.classify(e) else {
                Issue.record("\(state) is not unexpected")
                continue
            }
            #expect(detail.contains(state))
        }
        #expect(PostgresSyncStore.classify(PGError.unscripted) != .storageUnavailable)
        #expect(PostgresSyncStore.classify(SyncError.roomNotFound) == .roomNotFound)
    }
}
