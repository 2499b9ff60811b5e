import Testing
@testable import WebSocket

/// RFC 6455 §5.7 examples and every close-code path of the decoder and protocol.
struct WebSocketCodecTests {
    /// A client frame: masked with `mask` (§5.3).
    static func masked(_ b0: UInt8, _ payload: [UInt8], mask: [UInt8] = [0x37, 0xfa, 0x21, 0x3d]) -> [UInt8] {
        var out: [UInt8] = [b0]
        let n = payload.count
        if n < 126 { out.append(0x80 | UInt8(n)) } else if n <= 0xFFFF { out += [0x80 | 126, UInt8(n >> 8), UInt8(n & 0xFF)] } else {
            out.append(0x80 | 127)
            for i in (0..<8).reversed() { out.append(UInt8(truncatingIfNeeded: UInt64(n) >> (UInt64(i) * 8))) }
        }
        out += mask
        for (i, b) in payload.enumerated() { out.append(b ^ mask[i % 4]) }
        return out
    }

    func decode(_ bytes: [UInt8], max: Int = 4096) -> WebSocketFrameDecoder.Outcome {
        bytes.withUnsafeBufferPointer { WebSocketFrameDecoder(maxPayload: max).decode($0) }
    }

    @Test func sha1AndAcceptKeyVectors() {
        let hex = SHA1.hash(Array("abc".utf8)).map { ($0 < 16 ? "0" : "") + String($0, radix: 16) }.joined()
        #expect(hex == "a9993e364706816aba3e25717850c26c9cd0d89d")
        #expect(SHA1.hash([]).count == 20)
        // RFC 6455 §1.3
        #expect(WebSocketHandshake.acceptKey(for: "dGhlIHNhbXBsZSBub25jZQ==") == "s3pPLMBiTxaQ9kYGzzhZRbK+xOo=")
        #expect(Base64.encode(Array("foob".utf8)) == "Zm9vYg==")
        #expect(Base64.decodedLength("dGhlIHNhbXBsZSBub25jZQ==") == 16)
        #expect(Base64.decodedLength("not base64!") == nil)
    }

    @Test func serverFramesMatchTheRFCExamples() {
        #expect(WebSocketFrame(opcode: .text, payload: Array("Hello".utf8)).encoded() == [0x81, 0x05, 0x48, 0x65, 0x6c, 0x6c, 0x6f])
        #expect(WebSocketFrame(opcode: .ping, payload: Array("Hello".utf8)).encoded() == [0x89, 0x05, 0x48, 0x65, 0x6c, 0x6c, 0x6f])
        let f256 = WebSocketFrame(opcode: .binary, payload: [UInt8](repeating: 7, count: 256)).encoded()
        #expect(Array(f256.prefix(4)) == [0x82, 0x7E, 0x01, 0x00])
        #expect(f256.count == 260)
        let f64k = WebSocketFrame(opcode: .binary, payload: [UInt8](repeating: 7, count: 65536)).encoded()
        #expect(Array(f64k.prefix(10)) == [0x82, 0x7F, 0, 0, 0, 0, 0, 1, 0, 0])
    }

    @Test func maskedHelloFromTheRFCDecodes() {
        let bytes: [UInt8] = [0x81, 0x85, 0x37, 0xfa, 0x21, 0x3d, 0x7f, 0x9f, 0x4d, 0x51, 0x58]
        #expect(decode(bytes) == .frame(WebSocketFrame(opcode: .text, payload: Array("Hello".utf8)), consumed: 11))
        // Every prefix is incomplete; the whole decodes the same however it was split.
        for n in 0..<bytes.count { #expect(decode(Array(bytes.prefix(n))) == .needMore) }
    }

    @Test func sixteenAndSixtyFourBitLengths() {
        let p300 = [UInt8](repeating: 0x41, count: 300)
        #expect(decode(Self.masked(0x82, p300), max: 70000) == .frame(WebSocketFrame(opcode: .binary, payload: p300), consumed: 308))
        let p66k = [UInt8](repeating: 0x42, count: 66_000)
        #expect(decode(Self.masked(0x82, p66k), max: 70000) == .frame(WebSocketFrame(opcode: .binary, payload: p66k), consumed: 66_014))
    }

    @Test func twoFramesInOneRead() {
        let bytes = Self.masked(0x81, Array("ab".utf8)) + Self.masked(0x89, [])
        guard case .frame(let f, let used) = decode(bytes) else { Issue.record("no frame"); return }
        #expect(f.payload == Array("ab".utf8))
        #expect(decode(Array(bytes[used...])) == .frame(WebSocketFrame(opcode: .ping), consumed: 6))
    }

    @Test(arguments: [
        ([0x81, 0x05, 0x48, 0x65, 0x6c, 0x6c, 0x6f], WebSocketCloseCode.protocolError),          // unmasked client frame
        (masked(0xC1, Array("x".utf8)), .protocolError),                                         // RSV1 without extension
        (masked(0x83, []), .protocolError),                                                      // reserved opcode 3
        (masked(0x09, []), .protocolError),                                                      // fragmented ping
        (masked(0x89, [UInt8](repeating: 0, count: 126)), .protocolError),                       // control frame > 125
        ([0x82, 0xFF, 0x80, 0, 0, 0, 0, 0, 0, 0], .protocolError),                               // 64-bit length MSB set
        ([0x82, 0xFF, 0, 0, 0, 0, 0, 0, 0x10, 0x01], .messageTooBig),                            // 4097: refused from the header alone
        ([0x82, 0xFF, 0xFF, 0xFF, 0xFF, 0xFF, 0xFF, 0xFF, 0xFF, 0xFF], .protocolError),          // fuzzer's overflow case
    ] as [([UInt8], WebSocketCloseCode)])
    func invalidFramesFail(_ bytes: [UInt8], _ code: WebSocketCloseCode) {
        #expect(decode(bytes) == .failure(code))
    }

    @Test func protocolAnswersPingAndEchoesClose() {
        var p = WebSocketProtocol()
        #expect(p.receive(WebSocketFrame(opcode: .ping, payload: [1, 2])) == [.send(WebSocketFrame(opcode: .pong, payload: [1, 2]))])
        #expect(p.receive(WebSocketFrame(opcode: .pong)) == [])
        #expect(p.receive(WebSocketFrame(opcode: .close, payload: [0x03, 0xE8, 0x62, 0x79, 0x65]))
            == [.send(WebSocketFrame(opcode: .close, payload: [0x03, 0xE8])), .closeConnection])
        #expect(p.state == .closed)
        #expect(p.receive(WebSocketFrame(opcode: .text, payload: [0x61])) == [])
    }

    @Test func serverInitiatedCloseWaitsForThePeer() {
        var p = WebSocketProtocol()
        #expect(p.close(.goingAway) == [.send(WebSocketFrame(opcode: .close, payload: [0x03, 0xE9]))])
        #expect(p.receive(WebSocketFrame(opcode: .text, payload: [0x61])) == [])   // no more deliveries
        #expect(p.receive(WebSocketFrame(opcode: .close, payload: [0x03, 0xE8])) == [.closeConnection])
    }

    @Test func fragmentedMessagesReassemble() {
        var p = WebSocketProtocol(maxMessage: 10)
        #expect(p.receive(WebSocketFrame(fin: false, opcode: .text, payload: Array("Hel".utf8))) == [])
        #expect(p.receive(WebSocketFrame(opcode: .ping)) == [.send(WebSocketFrame(opcode: .pong))])   // control in between
        #expect(p.receive(WebSocketFrame(fin: true, opcode: .continuation, payload: Array("lo".utf8))) == [.deliverText("Hello")])
    }

    static func closeWith(_ code: UInt16) -> [UInt8] { [UInt8(code >> 8), UInt8(code & 0xFF)] }

    @Test(arguments: [
        ([WebSocketFrame(opcode: .continuation, payload: [0x61])], WebSocketCloseCode.protocolError),
        ([WebSocketFrame(fin: false, opcode: .text, payload: [0x61]), WebSocketFrame(opcode: .text, payload: [0x62])], .protocolError),
        ([WebSocketFrame(fin: false, opcode: .text, payload: [UInt8](repeating: 0x61, count: 8)),
          WebSocketFrame(opcode: .continuation, payload: [UInt8](repeating: 0x61, count: 8))], .messageTooBig),
        ([WebSocketFrame(opcode: .text, payload: [0xC3, 0x28])], .invalidPayload),                 // invalid UTF-8
        ([WebSocketFrame(opcode: .close, payload: [0x03])], .protocolError),                        // 1-byte close payload
        ([WebSocketFrame(opcode: .close, payload: closeWith(1005))], .protocolError),               // reserved code on the wire
        ([WebSocketFrame(opcode: .close, payload: closeWith(999))], .protocolError),
        ([WebSocketFrame(opcode: .close, payload: closeWith(1000) + [0xFF])], .invalidPayload),     // reason not UTF-8
    ] as [([WebSocketFrame], WebSocketCloseCode)])
    func violationsCloseWithTheRightCode(_ frames: [WebSocketFrame], _ code: WebSocketCloseCode) {
        var p = WebSocketProtocol(maxMessage: 10)
        var actions: [WebSocketProtocol.Action] = []
        for f in frames { actions = p.receive(f) }
        #expect(actions == [.send(WebSocketProtocol.closeFrame(code.rawValue, reason: "")), .closeConnection])
    }
}
