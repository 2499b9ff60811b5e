import HTTPClient
import Sockets

/// A client's keep-alive connections to the load test's nodes (`--url`), one per node,
/// each opened by the first request that goes there (`LoadPlan.roomNode` picks the node).
/// Confined to `loop`, like the actor that owns it.
final class NodeConnections {
    let targets: [LoadTarget]
    let loop: EventLoop
    private var conns: [ClientConnection?]

    init(targets: [LoadTarget], loop: EventLoop) {
        self.targets = targets
        self.loop = loop
        conns = Array(repeating: nil, count: targets.count)
    }

    /// The connection to node `node`, opened now if this is its first request.
    func to(_ node: Int) -> ClientConnection {
        if let c = conns[node] { return c }
        let c = ClientConnection(loop: loop, host: targets[node].host, port: targets[node].port)
        conns[node] = c
        return c
    }

    func closeAll() {
        for c in conns { c?.close() }
    }
}
