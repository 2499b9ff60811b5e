/// Header fields in arrival order. Names are stored lower-cased (field names are
/// case-insensitive, RFC 9110 §5.1), so lookups are plain comparisons.
public struct HTTPHeaders: Sendable, Sequence {
    public private(set) var fields: [(name: String, value: String)] = []

    public init() {}
    public init(_ fields: [(String, String)]) {
        for (n, v) in fields { add(n, v) }
    }

    public mutating func add(_ name: String, _ value: String) {
        fields.append((name.lowercased(), value))
    }

    /// For names that are already lower-case (the parser's).
    mutating func addLowercased(_ name: String, _ value: String) {
        fields.append((name, value))
    }

    private static func lower(_ name: String) -> String {
        name.utf8.contains(where: { $0 >= 0x41 && $0 <= 0x5A }) ? name.lowercased() : name
    }

    /// The first value of `name`, or nil.
    public subscript(name: String) -> String? {
        let lower = Self.lower(name)
        for f in fields where f.name == lower { return f.value }
        return nil
    }

    /// Every value of `name`, in order (for fields that may repeat).
    public func values(_ name: String) -> [String] {
        let lower = Self.lower(name)
        return fields.filter { $0.name == lower }.map(\.value)
    }

    public var count: Int { fields.count }

    public func makeIterator() -> IndexingIterator<[(name: String, value: String)]> {
        fields.makeIterator()
    }

    /// True when a comma-separated field contains `token` (case-insensitive), e.g.
    /// `Connection: keep-alive, Upgrade`.
    public func containsToken(_ name: String, _ token: String) -> Bool {
        let t = token.lowercased()
        for value in values(name) {
            for part in value.split(separator: ",") where part.trimmedOWS().lowercased() == t { return true }
        }
        return false
    }
}

extension StringProtocol {
    /// Trims optional whitespace (SP / HTAB), RFC 9110 §5.6.3.
    public func trimmedOWS() -> String {
        var s = Substring(self)
        while let f = s.first, f == " " || f == "\t" { s.removeFirst() }
        while let l = s.last, l == " " || l == "\t" { s.removeLast() }
        return String(s)
    }
}
