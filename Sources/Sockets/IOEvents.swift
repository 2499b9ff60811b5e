import CLinux

/// What a registrant asks an event loop to watch for, and what the loop reports back:
/// epoll's event bits (epoll_ctl(2)) under names of their own, so the layers above
/// the loop never import epoll.
public struct IOEvents: OptionSet, Sendable {
    public let rawValue: UInt32
    public init(rawValue: UInt32) { self.rawValue = rawValue }

    /// Input is available, or a listener has a connection to accept (EPOLLIN).
    public static let readable = IOEvents(rawValue: EPOLLIN.rawValue)
    /// Output would not block; for a connecting socket, the connect finished (EPOLLOUT).
    public static let writable = IOEvents(rawValue: EPOLLOUT.rawValue)
    /// The peer shut its writing side (EPOLLRDHUP). Reported only when asked for.
    public static let peerShutdown = IOEvents(rawValue: EPOLLRDHUP.rawValue)
    /// An error is pending on the descriptor (EPOLLERR). Always reported.
    public static let error = IOEvents(rawValue: EPOLLERR.rawValue)
    /// Both directions are shut (EPOLLHUP). Always reported.
    public static let hangUp = IOEvents(rawValue: EPOLLHUP.rawValue)
    /// Edge-triggered (EPOLLET): a change is reported once, so the registrant reads or
    /// writes until the call would block.
    public static let edgeTriggered = IOEvents(rawValue: EPOLLET.rawValue)
    /// Of several loops watching one descriptor, one is woken (EPOLLEXCLUSIVE).
    public static let exclusive = IOEvents(rawValue: EPOLLEXCLUSIVE.rawValue)
}
