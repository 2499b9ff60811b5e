/// Event loops with nothing listening: for outbound connections (`ClientConnection`),
/// e.g. the load generator, which drives thousands of sockets from a thread or two.
public final class EventLoopGroup: Sendable {
    public let loops: [EventLoop]

    public init(threads: Int) throws {
        Socket.raiseOpenFileLimit()   // each outbound connection is one fd
        loops = try (0..<max(1, threads)).map { try EventLoop(index: $0) }
        for loop in loops { loop.start(name: "client-\(loop.index)") }
    }

    /// Stops every loop after its current iteration and waits for the threads to exit.
    /// Connections still open are abandoned (their fds close with the process).
    public func shutdown() {
        for loop in loops { loop.stop() }
        for loop in loops { loop.waitUntilExited() }
    }
}
