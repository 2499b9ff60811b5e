import CSQLite

/// The current row of a statement being stepped, valid only inside the closure given
/// to `Database.query` / `queryOne` / `queryAll` (the next step or the reset
/// invalidates it; copy values out, never the row).
///
/// Accessors follow SQLite's own conversions (https://www.sqlite.org/c3ref/column_blob.html),
/// except that reading NULL through a non-optional accessor is a programming error
/// and traps with the column name: a schema and its reading code disagreeing is a bug
/// to find in tests, not a value to invent (GRDB does the same).
public struct Row {
    let handle: OpaquePointer

    public var columnCount: Int { Int(sqlite3_column_count(handle)) }

    public func columnName(_ index: Int) -> String {
        sqlite3_column_name(handle, Int32(index)).map { String(cString: $0) } ?? "?"
    }

    public func isNull(_ index: Int) -> Bool {
        sqlite3_column_type(handle, Int32(index)) == SQLITE_NULL
    }

    public func int64(_ index: Int) -> Int64 {
        requireNonNull(index)
        return sqlite3_column_int64(handle, Int32(index))
    }

    public func int(_ index: Int) -> Int { Int(int64(index)) }

    public func bool(_ index: Int) -> Bool { int64(index) != 0 }

    public func double(_ index: Int) -> Double {
        requireNonNull(index)
        return sqlite3_column_double(handle, Int32(index))
    }

    /// Reads with the explicit byte count, so embedded NULs survive; invalid UTF-8
    /// (only possible if something wrote raw bytes as TEXT) is repaired, not trapped.
    public func text(_ index: Int) -> String {
        requireNonNull(index)
        let i = Int32(index)
        guard let bytes = sqlite3_column_text(handle, i) else { return "" }
        let count = Int(sqlite3_column_bytes(handle, i))
        return String(decoding: UnsafeBufferPointer(start: bytes, count: count), as: UTF8.self)
    }

    public func blob(_ index: Int) -> [UInt8] {
        requireNonNull(index)
        let i = Int32(index)
        // A zero-length blob comes back as a NULL pointer.
        guard let raw = sqlite3_column_blob(handle, i) else { return [] }
        let count = Int(sqlite3_column_bytes(handle, i))
        return Array(UnsafeRawBufferPointer(start: raw, count: count))
    }

    public func optionalInt64(_ index: Int) -> Int64? { isNull(index) ? nil : int64(index) }
    public func optionalInt(_ index: Int) -> Int? { isNull(index) ? nil : int(index) }
    public func optionalDouble(_ index: Int) -> Double? { isNull(index) ? nil : double(index) }
    public func optionalText(_ index: Int) -> String? { isNull(index) ? nil : text(index) }
    public func optionalBlob(_ index: Int) -> [UInt8]? { isNull(index) ? nil : blob(index) }

    /// The column as stored, with its storage class.
    public func value(_ index: Int) -> SQLValue {
        switch sqlite3_column_type(handle, Int32(index)) {
        case SQLITE_INTEGER: return .integer(int64(index))
        case SQLITE_FLOAT: return .real(double(index))
        case SQLITE_TEXT: return .text(text(index))
        case SQLITE_BLOB: return .blob(blob(index))
        default: return .null
        }
    }

    private func requireNonNull(_ index: Int) {
        precondition(index >= 0 && index < columnCount, "column \(index) out of range (\(columnCount) columns)")
        if isNull(index) {
            preconditionFailure("column \(index) '\(columnName(index))' is NULL; use the optional accessor")
        }
    }
}
