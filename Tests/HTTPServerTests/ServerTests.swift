import Foundation
import Testing
@testable import HTTPServer
import Sockets

/// The transport over real sockets: one server per test on 127.0.0.1:0.
@Suite(.timeLimit(.minutes(3)))
struct ServerTests {
    @Test func keepAliveServesSeveralRequestsOnOneConnection() throws {
        try withTestServer { server, _ in
            let c = try RawClient(port: server.port)
            for _ in 0..<3 {
                c.send("GET /hello HTTP/1.1\r\nHost: x\r\n\r\n")
                let r = try #require(c.readResponse())
                #expect(r.status == 200)
                #expect(r.text == #"{"hello":"world"}"#)
                #expect(r.header("Content-Length") == "17")
                #expect(r.header("Content-Type") == "application/json; charset=utf-8")
                #expect(r.header("Connection") == nil)
                let date = try #require(r.header("Date"))
                #expect(date.hasSuffix(" GMT") && date.count == 29)
            }
        }
    }

    @Test func connectionCloseIsHonoured() throws {
        try withTestServer { server, _ in
            let c = try RawClient(port: server.port)
            c.send("GET /hello HTTP/1.1\r\nHost: x\r\nConnection: close\r\n\r\n")
            let r = try #require(c.readResponse())
            #expect(r.status == 200)
            #expect(r.header("Connection") == "close")
            #expect(c.isClosedByPeer())
        }
    }

    @Test func http10ClosesUnlessKeepAliveAsked() throws {
        try withTestServer { server, _ in
            let c = try RawClient(port: server.port)
            c.send("GET /hello HTTP/1.0\r\n\r\n")
            #expect(try #require(c.readResponse()).status == 200)
            #expect(c.isClosedByPeer())

            let k = try RawClient(port: server.port)
            k.send("GET /hello HTTP/1.0\r\nConnection: keep-alive\r\n\r\n")
            let r = try #require(k.readResponse())
            #expect(r.header("Connection") == "keep-alive")
            k.send("GET /items/2 HTTP/1.0\r\nConnection: keep-alive\r\n\r\n")
            #expect(try #require(k.readResponse()).text == #"{"id":"2"}"#)
        }
    }

    @Test func pipelinedRequestsAreAnsweredInOrder() throws {
        try withTestServer { server, _ in
            let c = try RawClient(port: server.port)
            // The first is answered only after 50 ms; the others must wait behind it.
            c.send("GET /later/50 HTTP/1.1\r\nHost: x\r\n\r\nGET /items/a HTTP/1.1\r\nHost: x\r\n\r\n"
                + "POST /echo HTTP/1.1\r\nHost: x\r\nContent-Length: 4\r\n\r\n[42]GET /items/b HTTP/1.1\r\nHost: x\r\n\r\n")
            #expect(try #require(c.readResponse()).text == #"{"waited_ms":50}"#)
            #expect(try #require(c.readResponse()).text == #"{"id":"a"}"#)
            #expect(try #require(c.readResponse()).text == "[42]")
            #expect(try #require(c.readResponse()).text == #"{"id":"b"}"#)
        }
    }

    @Test func requestDeliveredOneByteAtATimeParsesTheSame() throws {
        try withTestServer { server, _ in
            let c = try RawClient(port: server.port)
            c.sendSlowly("POST /echo HTTP/1.1\r\nHost: x\r\nTransfer-Encoding: chunked\r\n\r\n3\r\n[1,\r\n2\r\n2]\r\n0\r\n\r\n")
            let r = try #require(c.readResponse())
            #expect(r.status == 200)
            #expect(r.text == "[1,2]")
        }
    }

    @Test func contentLengthAndChunkedBodies() throws {
        try withTestServer { server, _ in
            let c = try RawClient(port: server.port)
            c.send("POST /echo HTTP/1.1\r\nHost: x\r\nContent-Length: 11\r\n\r\n{\"a\":\"b c\"}")
            #expect(try #require(c.readResponse()).text == #"{"a":"b c"}"#)
            c.send("POST /echo HTTP/1.1\r\nHost: x\r\nTransfer-Encoding: chunked\r\n\r\n4;ext=1\r\n{\"a\"\r\n3\r\n:1}\r\n0\r\nTrailer: x\r\n\r\n")
            #expect(try #require(c.readResponse()).text == #"{"a":1}"#)
        }
    }

    @Test func expectContinueGets100ThenTheFinalResponse() throws {
        try withTestServer { server, _ in
            let c = try RawClient(port: server.port)
            let body = String(repeating: "x", count: 2000)
            c.send("POST /echo HTTP/1.1\r\nHost: x\r\nContent-Length: 2000\r\nExpect: 100-continue\r\n\r\n")
            let interim = try #require(c.readResponse())
            #expect(interim.status == 100)
            c.send(body)
            let r = try #require(c.readResponse())
            #expect(r.status == 200)
            #expect(r.body.count == 2000)
        }
    }

    @Test func expectContinueOverTheLimitIsRefusedWithoutReadingTheBody() throws {
        try withTestServer { server, _ in
            let c = try RawClient(port: server.port)
            c.send("POST /small HTTP/1.1\r\nHost: x\r\nContent-Length: 100\r\nExpect: 100-continue\r\n\r\n")
            let r = try #require(c.readResponse())
            #expect(r.status == 413)
            #expect(r.text.contains(#""code":"payload_too_large""#))
            #expect(c.isClosedByPeer())
        }
    }

    @Test func unknownExpectationIs417() throws {
        try withTestServer { server, _ in
            let c = try RawClient(port: server.port)
            c.send("POST /echo HTTP/1.1\r\nHost: x\r\nContent-Length: 2\r\nExpect: teapot\r\n\r\n{}")
            #expect(try #require(c.readResponse()).status == 417)
        }
    }

    @Test func routing404And405AndHeadAndOptions() throws {
        try withTestServer { server, _ in
            let c = try RawClient(port: server.port)
            c.send("GET /nope HTTP/1.1\r\nHost: x\r\n\r\n")
            let nf = try #require(c.readResponse())
            #expect(nf.status == 404)
            #expect(nf.text == #"{"error":{"code":"not_found","message":"no such resource"}}"#)

            c.send("POST /items/3 HTTP/1.1\r\nHost: x\r\nContent-Length: 0\r\n\r\n")
            let na = try #require(c.readResponse())
            #expect(na.status == 405)
            #expect(na.header("Allow") == "GET, DELETE, HEAD, OPTIONS")
            #expect(na.text.contains(#""code":"method_not_allowed""#))

            c.send("HEAD /hello HTTP/1.1\r\nHost: x\r\n\r\n")
            let head = try #require(c.readResponse(isHead: true))
            #expect(head.status == 200)
            #expect(head.header("Content-Length") == "17")
            // No body follows a HEAD response: the next response starts right away.
            c.send("OPTIONS /items/3 HTTP/1.1\r\nHost: x\r\n\r\n")
            let opt = try #require(c.readResponse())
            #expect(opt.status == 204)
            #expect(opt.header("Allow") == "GET, DELETE, HEAD, OPTIONS")

            c.send("DELETE /items/3 HTTP/1.1\r\nHost: x\r\n\r\n")
            let del = try #require(c.readResponse())
            #expect(del.status == 204)
            #expect(del.header("Content-Length") == nil)
        }
    }

    @Test func pathParametersAndQueriesArePercentDecoded() throws {
        try withTestServer { server, _ in
            let c = try RawClient(port: server.port)
            c.send("GET /items/a%20b%2Fc?x=1 HTTP/1.1\r\nHost: x\r\n\r\n")
            #expect(try #require(c.readResponse()).text == #"{"id":"a b/c"}"#)
            c.send("GET /items/%ZZ HTTP/1.1\r\nHost: x\r\n\r\n")
            let bad = try #require(c.readResponse())
            #expect(bad.status == 400)
            #expect(bad.text.contains("malformed_path"))
            c.send("GET /items/1?q=%E2%82 HTTP/1.1\r\nHost: x\r\n\r\n")
            #expect(try #require(c.readResponse()).status == 400)
        }
        let items = try #require(URLEncoding.parseQuery("a=1&b=x%20y+z&flag&c=%E2%82%AC"))
        #expect(items.map(\.name) == ["a", "b", "flag", "c"])
        #expect(items.map(\.value) == ["1", "x y z", "", "€"])
    }

    @Test func headerBlockOver16KiBIs431() throws {
        try withTestServer { server, _ in
            let c = try RawClient(port: server.port)
            c.send("GET /hello HTTP/1.1\r\nHost: x\r\nX-Big: \(String(repeating: "a", count: 17 * 1024))\r\n\r\n")
            let r = try #require(c.readResponse())
            #expect(r.status == 431)
            #expect(r.text.contains(#""code":"header_too_large""#))
            #expect(c.isClosedByPeer())
        }
    }

    @Test func bodyOverTransportLimitIs413() throws {
        try withTestServer({ $0.maxBodyBytes = 1000 }) { server, _ in
            let c = try RawClient(port: server.port)
            c.send("POST /echo HTTP/1.1\r\nHost: x\r\nContent-Length: 1001\r\n\r\n")
            #expect(try #require(c.readResponse()).status == 413)
            #expect(c.isClosedByPeer())
            let d = try RawClient(port: server.port)
            d.send("POST /echo HTTP/1.1\r\nHost: x\r\nTransfer-Encoding: chunked\r\n\r\n3e8\r\n" + String(repeating: "y", count: 1000) + "\r\n1\r\nz\r\n0\r\n\r\n")
            #expect(try #require(d.readResponse()).status == 413)
        }
    }

    @Test(arguments: [
        "POST /echo HTTP/1.1\r\nHost: x\r\nContent-Length: 4\r\nTransfer-Encoding: chunked\r\n\r\n0\r\n\r\n",
        "POST /echo HTTP/1.1\r\nHost: x\r\nContent-Length: 4\r\nContent-Length: 5\r\n\r\n12345",
        "POST /echo HTTP/1.1\r\nHost: x\r\nTransfer-Encoding: chunked\r\n\r\nzz\r\n",
        "GET /hello HTTP/1.1\r\nHost: x\r\nBad Header: 1\r\n\r\n",
        "GET /hello HTTP/1.1\r\nHost: x\r\nX: a\r\n folded\r\n\r\n",
        "GARBAGE\r\n\r\n",
        "GET /hello HTTP/1.1\nHost: x\n\n",
    ])
    func malformedRequestsGet400AndClose(_ raw: String) throws {
        try withTestServer { server, _ in
            let c = try RawClient(port: server.port)
            // A second request is appended: it must never be answered (no smuggling).
            c.send(raw + "GET /items/smuggled HTTP/1.1\r\nHost: x\r\n\r\n")
            let r = try #require(c.readResponse())
            #expect(r.status == 400)
            #expect(r.header("Connection") == "close")
            #expect(r.text.hasPrefix(#"{"error":{"code":"#))
            #expect(c.isClosedByPeer())
        }
    }

    @Test func slowHeadersGet408AndClose() throws {
        try withTestServer({ $0.headerTimeout = .milliseconds(300) }) { server, _ in
            let c = try RawClient(port: server.port)
            c.send("GET /hello HTTP/1.1\r\nHost:")
            let r = try #require(c.readResponse())
            #expect(r.status == 408)
            #expect(r.text.contains("request_timeout"))
            #expect(c.isClosedByPeer())
        }
    }

    @Test func idleKeepAliveConnectionIsClosed() throws {
        try withTestServer({ $0.idleTimeout = .milliseconds(300) }) { server, _ in
            let c = try RawClient(port: server.port)
            c.send("GET /hello HTTP/1.1\r\nHost: x\r\n\r\n")
            #expect(try #require(c.readResponse()).status == 200)
            #expect(c.isClosedByPeer(timeout: 3))
            #expect(eventually { server.openConnections == 0 })
        }
    }

    @Test func connectionCapRefusesWith503() throws {
        try withTestServer({ $0.maxConnections = 2; $0.threads = 1 }) { server, _ in
            let a = try RawClient(port: server.port)
            let b = try RawClient(port: server.port)
            #expect(eventually { server.openConnections == 2 })
            let c = try RawClient(port: server.port)
            c.send("GET /hello HTTP/1.1\r\nHost: x\r\n\r\n")
            let r = try #require(c.readResponse())
            #expect(r.status == 503)
            #expect(r.header("Retry-After") == "1")
            #expect(r.text.contains("too_many_connections"))
            #expect(c.isClosedByPeer())
            // The admitted connections still work.
            a.send("GET /hello HTTP/1.1\r\nHost: x\r\n\r\n")
            #expect(try #require(a.readResponse()).status == 200)
            _ = b
        }
    }

    @Test func gzipWhenAcceptedAndLarge() throws {
        try withTestServer { server, _ in
            let c = try RawClient(port: server.port)
            c.send("GET /big HTTP/1.1\r\nHost: x\r\nAccept-Encoding: br, gzip\r\n\r\n")
            let z = try #require(c.readResponse())
            #expect(z.header("Content-Encoding") == "gzip")
            #expect(z.header("Vary") == "Accept-Encoding")
            #expect(z.header("Content-Length") == String(z.body.count))
            let plain = try #require(Gzip.decompress(z.body))
            #expect(String(decoding: plain, as: UTF8.self).hasPrefix(#"[{"n":0,"#))

            c.send("GET /big HTTP/1.1\r\nHost: x\r\n\r\n")
            let p = try #require(c.readResponse())
            #expect(p.header("Content-Encoding") == nil)
            #expect(p.header("Vary") == "Accept-Encoding")
            #expect(p.body == plain)

            c.send("GET /big HTTP/1.1\r\nHost: x\r\nAccept-Encoding: gzip;q=0\r\n\r\n")
            #expect(try #require(c.readResponse()).header("Content-Encoding") == nil)

            c.send("GET /hello HTTP/1.1\r\nHost: x\r\nAccept-Encoding: gzip\r\n\r\n")
            let small = try #require(c.readResponse())
            #expect(small.header("Content-Encoding") == nil)
            #expect(small.text == #"{"hello":"world"}"#)
        }
    }

    @Test func answeringLaterHoldsNoThreadAndKeepsOrder() throws {
        try withTestServer({ $0.threads = 1 }) { server, _ in
            // 200 parked requests on one loop thread, all answered by timers.
            let clients = try (0..<200).map { _ in try RawClient(port: server.port) }
            for c in clients { c.send("GET /later/100 HTTP/1.1\r\nHost: x\r\n\r\n") }
            #expect(eventually { server.inFlightRequests == 200 })
            // Meanwhile the loop still answers other requests at once.
            let other = try RawClient(port: server.port)
            other.send("GET /hello HTTP/1.1\r\nHost: x\r\n\r\n")
            #expect(try #require(other.readResponse()).status == 200)
            for c in clients { #expect(c.readResponse()?.text == #"{"waited_ms":100}"#) }
        }
    }

    @Test func disconnectWhileParkedIsNoticedAndCleanedUp() throws {
        try withTestServer { server, handler in
            var c: RawClient? = try RawClient(port: server.port)
            c!.send("GET /park HTTP/1.1\r\nHost: x\r\n\r\n")
            #expect(eventually { handler.parked.load(ordering: .relaxed) == 1 })
            #expect(server.inFlightRequests == 1)
            c = nil   // close the socket
            #expect(eventually { handler.cancelled.load(ordering: .relaxed) == 1 })
            #expect(eventually { server.openConnections == 0 && server.inFlightRequests == 0 })
        }
    }

    @Test func aSecondServerCannotTakeTheSamePort() throws {
        try withTestServer { server, _ in
            var config = HTTPServerConfiguration()
            config.port = server.port
            #expect(throws: SocketError.self) { _ = try HTTPServer(configuration: config, handler: TestHandler(), logger: .silent) }
        }
    }

    @Test func gracefulShutdownFinishesInFlightRequests() throws {
        var config = HTTPServerConfiguration()
        config.port = 0
        config.threads = 1
        let server = try HTTPServer(configuration: config, handler: TestHandler(), logger: .silent)
        server.start()
        let c = try RawClient(port: server.port)
        c.send("GET /later/200 HTTP/1.1\r\nHost: x\r\n\r\n")
        #expect(eventually { server.inFlightRequests == 1 })
        let idle = try RawClient(port: server.port)
        #expect(eventually { server.openConnections == 2 })
        let stopper = Thread { server.shutdown(grace: .seconds(3)) }
        stopper.start()
        let r = try #require(c.readResponse())
        #expect(r.status == 200)
        #expect(r.header("Connection") == "close")
        #expect(idle.isClosedByPeer())
        #expect(eventually(timeout: 4) { server.openConnections == 0 })
    }
}
