/// "Does user U have a live connection anywhere?": asked inside a send's unit of work
/// to decide whether a member gets an offline push. A single process answers from its
/// own registry (the Notifier: a parked long-poll or an open `/v1/notify` socket); a
/// cluster needs a source that knows every node's connections.
public protocol Presence: Sendable {
    func isOnline(_ user: UserID) -> Bool
    /// Every user with a live connection that this presence knows of (a node publishes
    /// its own for the others).
    func onlineUsers() -> [UserID]
}

extension Notifier: Presence {
    public func isOnline(_ user: UserID) -> Bool { hasSubscribers(user) }
    public func onlineUsers() -> [UserID] { subscribedUsers() }
}
