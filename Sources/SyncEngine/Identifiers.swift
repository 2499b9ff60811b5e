/// Typed identifiers: a room id can never be passed where a user id is expected.
public struct UserID: Hashable, Sendable, Comparable, CustomStringConvertible {
    public let rawValue: Int64
    public init(_ rawValue: Int64) { self.rawValue = rawValue }
    public var description: String { String(rawValue) }
    public static func < (a: Self, b: Self) -> Bool { a.rawValue < b.rawValue }
}

public struct DeviceID: Hashable, Sendable, CustomStringConvertible {
    public let rawValue: Int64
    public init(_ rawValue: Int64) { self.rawValue = rawValue }
    public var description: String { String(rawValue) }
}

public struct RoomID: Hashable, Sendable, Comparable, CustomStringConvertible {
    public let rawValue: Int64
    public init(_ rawValue: Int64) { self.rawValue = rawValue }
    public var description: String { String(rawValue) }
    public static func < (a: Self, b: Self) -> Bool { a.rawValue < b.rawValue }
}

public struct MessageID: Hashable, Sendable, CustomStringConvertible {
    public let rawValue: Int64
    public init(_ rawValue: Int64) { self.rawValue = rawValue }
    public var description: String { String(rawValue) }
}

/// Who is making a request: resolved from a bearer token.
public struct Principal: Sendable, Equatable {
    public let user: UserID
    public let userName: String
    public let device: DeviceID
    public let deviceName: String

    /// Memberwise (public: backends construct it).
    public init(user: UserID, userName: String, device: DeviceID, deviceName: String) {
        self.user = user
        self.userName = userName
        self.device = device
        self.deviceName = deviceName
    }
}
