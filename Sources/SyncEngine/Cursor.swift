/// A position in one user's event stream. Opaque to clients: a short versioned
/// string, so the server can change what it encodes without breaking them.
///
/// - `v1.<user>.<inbox seq>`: the inbox position alone (no hot rooms).
/// - `v2.<user>.<inbox seq>.<room>:<seq>,...`: plus one position per hot room
///   (read diffusion), rooms in ascending id order.
///
/// The text is base64url, so it survives query strings untouched.
public struct Cursor: Sendable, Equatable {
    public let user: UserID
    public let inboxSeq: Int64
    /// Position in each hot room the user is in (the last room seq delivered).
    public let hot: [RoomID: Int64]

    public init(user: UserID, inboxSeq: Int64, hot: [RoomID: Int64] = [:]) {
        self.user = user
        self.inboxSeq = inboxSeq
        self.hot = hot
    }

    public var encoded: String {
        // Built as bytes: every pull answers with one and every pull start decodes one.
        var text: [UInt8] = []
        text.reserveCapacity(24 + hot.count * 16)
        text.append(contentsOf: hot.isEmpty ? "v1.".utf8 : "v2.".utf8)
        Self.appendInt(user.rawValue, to: &text)
        text.append(Self.dot)
        Self.appendInt(inboxSeq, to: &text)
        if !hot.isEmpty {
            text.append(Self.dot)
            for (k, room) in hot.keys.sorted().enumerated() {
                if k > 0 { text.append(Self.comma) }
                Self.appendInt(room.rawValue, to: &text)
                text.append(Self.colon)
                Self.appendInt(hot[room]!, to: &text)
            }
        }
        return Base64URL.encode(text)
    }

    /// Parses a cursor string; nil when it is not one we issued.
    public static func decode(_ text: String) -> Cursor? {
        guard !text.isEmpty, text.utf8.count <= 8192, let b = Base64URL.decode(text) else { return nil }
        guard b.count >= 3, b[0] == UInt8(ascii: "v"), b[2] == dot else { return nil }
        let version = b[1]
        var i = 3
        guard let user = readInt(b, &i), user > 0, i < b.count, b[i] == dot else { return nil }
        i += 1
        guard let seq = readInt(b, &i) else { return nil }
        if version == UInt8(ascii: "1") {
            return i == b.count ? Cursor(user: UserID(user), inboxSeq: seq) : nil
        }
        guard version == UInt8(ascii: "2"), i < b.count, b[i] == dot else { return nil }
        i += 1
        var hot: [RoomID: Int64] = [:]
        var previous: Int64 = 0
        while true {
            guard let room = readInt(b, &i), room > previous, i < b.count, b[i] == colon else { return nil }
            i += 1
            guard let pos = readInt(b, &i) else { return nil }
            hot[RoomID(room)] = pos
            previous = room
            if i == b.count { break }
            guard b[i] == comma else { return nil }
            i += 1
        }
        return Cursor(user: UserID(user), inboxSeq: seq, hot: hot)
    }

    private static let dot = UInt8(ascii: "."), colon = UInt8(ascii: ":"), comma = UInt8(ascii: ",")

    /// A non-negative integer at `i` in its one canonical spelling (digits, no sign, no
    /// leading zeros, within Int64), so each position has exactly one cursor text.
    private static func readInt(_ b: [UInt8], _ i: inout Int) -> Int64? {
        let start = i
        var v: Int64 = 0
        while i < b.count, b[i] >= UInt8(ascii: "0"), b[i] <= UInt8(ascii: "9") {
            let (m, o1) = v.multipliedReportingOverflow(by: 10)
            let (a, o2) = m.addingReportingOverflow(Int64(b[i] - UInt8(ascii: "0")))
            if o1 || o2 { return nil }
            v = a
            i += 1
        }
        let length = i - start
        if length == 0 || (length > 1 && b[start] == UInt8(ascii: "0")) { return nil }
        return v
    }

    private static func appendInt(_ v: Int64, to out: inout [UInt8]) {
        if v == 0 { return out.append(UInt8(ascii: "0")) }
        var digits: (UInt8, UInt8, UInt8, UInt8, UInt8, UInt8, UInt8, UInt8, UInt8, UInt8,
                      UInt8, UInt8, UInt8, UInt8, UInt8, UInt8, UInt8, UInt8, UInt8, UInt8) =
            (0, 0, 0, 0, 0, 0, 0, 0, 0, 0, 0, 0, 0, 0, 0, 0, 0, 0, 0, 0)
        var n = 0
        var x = v.magnitude
        withUnsafeMutableBytes(of: &digits) { d in
            while x > 0 {
                d[n] = UInt8(ascii: "0") + UInt8(x % 10)
                x /= 10
                n += 1
            }
            for k in stride(from: n - 1, through: 0, by: -1) { out.append(d[k]) }
        }
    }
}
