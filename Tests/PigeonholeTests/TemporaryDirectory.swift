import Foundation

/// A fresh directory under /tmp for one test's database, removed afterwards.
enum TemporaryDirectory {
    static func make() throws -> String {
        var template = Array("/tmp/pigeonhole-e2e-XXXXXX".utf8CString)
        guard let p = mkdtemp(&template) else { throw TestFailure("mkdtemp failed: errno \(errno)") }
        return String(cString: p)
    }

    static func with<T>(_ body: (String) throws -> T) throws -> T {
        let dir = try make()
        defer { try? FileManager.default.removeItem(atPath: dir) }
        return try body(dir)
    }
}
