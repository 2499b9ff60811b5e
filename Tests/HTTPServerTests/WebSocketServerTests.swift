import Foundation
import Testing
@testable import HTTPServer
import WebSocket

/// WebSocket over real sockets: handshake, frames split and batched, ping/pong,
/// close handshakes, protocol errors, dead peers.
@Suite(.timeLimit(.minutes(3)))
struct WebSocketServerTests {
    static let upgrade = "GET /ws HTTP/1.1\r\nHost: x\r\nUpgrade: websocket\r\nConnection: Upgrade\r\n"
        + "Sec-WebSocket-Key: dGhlIHNhbXBsZSBub25jZQ==\r\nSec-WebSocket-Version: 13\r\n\r\n"

    /// Reads one server frame (unmasked) from the raw client.
    static func readFrame(_ c: RawClient) -> WebSocketFrame? {
        guard let h = c.readBytes(2) else { return nil }
        var n = Int(h[1] & 0x7F)
        if n == 126 { guard let e = c.readBytes(2) else { return nil }; n = Int(e[0]) << 8 | Int(e[1]) }
        guard let payload = c.readBytes(n), let op = WebSocketFrame.Opcode(rawValue: h[0] & 0x0F) else { return nil }
        return WebSocketFrame(fin: h[0] & 0x80 != 0, opcode: op, payload: payload)
    }

    func open(_ server: HTTPServer, extra: [UInt8] = []) throws -> RawClient {
        let c = try RawClient(port: server.port)
        c.send(Array(Self.upgrade.utf8) + extra)
        let r = try #require(c.readResponse(isHead: true))
        #expect(r.status == 101)
        #expect(r.header("Sec-WebSocket-Accept") == "s3pPLMBiTxaQ9kYGzzhZRbK+xOo=")
        #expect(r.header("Upgrade")?.lowercased() == "websocket")
        return c
    }

    @Test func handshakeThenEchoIncludingFramesSentWithTheRequest() throws {
        try withTestServer { server, _ in
            // The first frame rides in the same packet as the handshake: it must not be lost.
            let c = try open(server, extra: ClientFrame.masked(0x81, Array("early".utf8)))
            #expect(Self.readFrame(c) == WebSocketFrame(opcode: .text, payload: Array("EARLY".utf8)))
            // Two frames in one write, then one frame a byte at a time.
            c.send(ClientFrame.masked(0x81, Array("a".utf8)) + ClientFrame.masked(0x81, Array("b".utf8)))
            #expect(Self.readFrame(c)?.payload == Array("A".utf8))
            #expect(Self.readFrame(c)?.payload == Array("B".utf8))
            // A client that trickles is the point: each byte its own write, paced so the
            // server most likely reads it alone (the decoder's byte-at-a-time split is
            // checked without sockets in WebSocketCodecTests).
            for b in ClientFrame.masked(0x81, Array("slow".utf8)) { c.send([b]); usleep(300) }
            #expect(Self.readFrame(c)?.payload == Array("SLOW".utf8))
            #expect(server.openUpgradedConnections == 1)
        }
    }

    @Test func badHandshakesNeverUpgrade() throws {
        try withTestServer { server, _ in
            let c = try RawClient(port: server.port)
            c.send("GET /ws HTTP/1.1\r\nHost: x\r\n\r\n")
            #expect(try #require(c.readResponse()).status == 426)
            c.send(Self.upgrade.replacingOccurrences(of: "Version: 13", with: "Version: 8"))
            let v = try #require(c.readResponse())
            #expect(v.status == 426)
            #expect(v.header("Sec-WebSocket-Version") == "13")
            c.send(Self.upgrade.replacingOccurrences(of: "dGhlIHNhbXBsZSBub25jZQ==", with: "short"))
            #expect(try #require(c.readResponse()).status == 400)
            #expect(server.openUpgradedConnections == 0)
        }
    }

    @Test func pingIsAnsweredAndCloseIsEchoed() throws {
        try withTestServer { server, handler in
            let c = try open(server)
            c.send(ClientFrame.masked(0x89, Array("hb".utf8)))
            #expect(Self.readFrame(c) == WebSocketFrame(opcode: .pong, payload: Array("hb".utf8)))
            c.send(ClientFrame.masked(0x88, [0x03, 0xE8]))
            #expect(Self.readFrame(c) == WebSocketFrame(opcode: .close, payload: [0x03, 0xE8]))
            #expect(c.isClosedByPeer())
            #expect(eventually { handler.wsClosed.load(ordering: .relaxed) == 1 && server.openConnections == 0 })
        }
    }

    @Test func serverCloseWaitsForTheClientsClose() throws {
        try withTestServer { server, _ in
            let c = try open(server)
            c.send(ClientFrame.masked(0x81, Array("close".utf8)))
            #expect(Self.readFrame(c) == WebSocketFrame(opcode: .close, payload: [0x03, 0xE8]))
            c.send(ClientFrame.masked(0x88, [0x03, 0xE8]))
            #expect(c.isClosedByPeer())
        }
    }

    @Test(arguments: [
        ([0x81, 0x02, 0x68, 0x69], UInt16(1002)),                                          // unmasked
        (ClientFrame.masked(0x81, [UInt8](repeating: 0x61, count: 5000)), 1009),  // over 4 KiB
        (ClientFrame.masked(0x09, []), 1002),                                      // fragmented control frame
        (ClientFrame.masked(0xA1, Array("x".utf8)), 1002),                         // reserved bit
        (ClientFrame.masked(0x81, [0xFF, 0xFE]), 1007),                            // invalid UTF-8
    ] as [([UInt8], UInt16)])
    func protocolErrorsCloseWithTheirCode(_ bytes: [UInt8], _ code: UInt16) throws {
        try withTestServer { server, _ in
            let c = try open(server)
            c.send(bytes)
            let f = try #require(Self.readFrame(c))
            #expect(f.opcode == .close)
            #expect(f.payload.count >= 2 && UInt16(f.payload[0]) << 8 | UInt16(f.payload[1]) == code)
            #expect(c.isClosedByPeer())
        }
    }

    @Test func serverPingsAndDropsAPeerThatStopsAnswering() throws {
        try withTestServer(wsPingInterval: .milliseconds(150)) { server, handler in
            let alive = try open(server)
            let silent = try open(server)
            // The live peer answers pings and stays; the silent one never sends a thing.
            for _ in 0..<4 {
                guard let f = Self.readFrame(alive) else { Issue.record("no ping"); return }
                #expect(f.opcode == .ping)
                alive.send(ClientFrame.masked(0x8A, f.payload))
            }
            #expect(eventually { handler.wsClosed.load(ordering: .relaxed) == 1 })
            #expect(server.openUpgradedConnections == 1)
            _ = silent
        }
    }

    @Test func vanishedPeerIsCleanedUp() throws {
        try withTestServer { server, handler in
            var c: RawClient? = try open(server)
            #expect(server.openUpgradedConnections == 1)
            c!.abort()   // RST, no close frame
            c = nil
            #expect(eventually { handler.wsClosed.load(ordering: .relaxed) == 1 && server.openUpgradedConnections == 0 })
            #expect(eventually { server.openConnections == 0 })
        }
    }
}
