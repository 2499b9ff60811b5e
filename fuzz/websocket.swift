// libFuzzer harness: WebSocket frame decoder (WebSocketFrameDecoder.decode) and the
// per-connection protocol state machine (WebSocketProtocol.receive), driven the way
// WebSocketSession drives them: decode frames off a buffer until needMore or failure,
// hand each to the protocol, stop when it asks to close.
//
// Compiled by fuzz/run into module WebSocket, so internal API is visible.
// The first input byte picks the frame/message limit; the rest is the byte stream.
//
// Invariants checked (beyond "does not trap"):
//  - decode: consumed <= count; payload.count <= maxPayload; consumed = header + 4 + payload;
//    control frames are final and <= 125 bytes; every shorter prefix of a decoded frame is
//    needMore; re-masking the payload gives back the input bytes; a frame re-encoded
//    masked decodes to the same frame;
//  - protocol: delivered messages are <= maxMessage; nothing happens after closeConnection
//    (it is the last action, and receive returns nothing once closed); frames the server
//    sends are well-formed (control payload <= 125, close codes it may send).

func fuzzMasked(_ f: WebSocketFrame, mask: (UInt8, UInt8, UInt8, UInt8)) -> [UInt8] {
    var out = f.encoded()
    let n = f.payload.count
    let header = n < 126 ? 2 : n <= 0xFFFF ? 4 : 10
    out[1] |= 0x80
    let m = [mask.0, mask.1, mask.2, mask.3]
    for i in 0..<n { out[header + i] ^= m[i & 3] }
    out.insert(contentsOf: m, at: header)
    return out
}

func fuzzDecode(_ d: WebSocketFrameDecoder, _ buf: UnsafeBufferPointer<UInt8>) -> WebSocketFrameDecoder.Outcome {
    let outcome = d.decode(buf)
    guard case .frame(let frame, let consumed) = outcome else { return outcome }
    precondition(consumed <= buf.count, "consumed \(consumed) of \(buf.count)")
    precondition(frame.payload.count <= d.maxPayload, "payload \(frame.payload.count) > max \(d.maxPayload)")
    let lengthField = buf[1] & 0x7F
    let header = lengthField == 127 ? 10 : lengthField == 126 ? 4 : 2
    precondition(consumed == header + 4 + frame.payload.count, "consumed does not match the frame size")
    if frame.opcode.isControl { precondition(frame.fin && frame.payload.count <= 125, "bad control frame") }
    precondition(frame.fin == (buf[0] & 0x80 != 0) && frame.opcode.rawValue == buf[0] & 0x0F, "header bits")
    let mask = (buf[header], buf[header + 1], buf[header + 2], buf[header + 3])
    for (i, b) in frame.payload.enumerated() {
        let m = [mask.0, mask.1, mask.2, mask.3][i & 3]
        precondition(b ^ m == buf[header + 4 + i], "unmasking is wrong")
    }
    for k in Set([0, 1, header - 1, header, header + 3, consumed - 1]) where k >= 0 && k < consumed {
        precondition(d.decode(UnsafeBufferPointer(rebasing: buf[0..<k])) == .needMore, "prefix \(k) of a frame is not needMore")
    }
    let again = fuzzMasked(frame, mask: mask)
    again.withUnsafeBufferPointer {
        precondition(d.decode($0) == .frame(frame, consumed: again.count), "masked re-encoding differs")
    }
    return outcome
}

func fuzzCheckSent(_ f: WebSocketFrame) {
    if f.opcode.isControl { precondition(f.fin && f.payload.count <= 125, "server control frame too big") }
    if f.opcode == .close {
        precondition(f.payload.count >= 2, "server close without a code")
        let code = UInt16(f.payload[0]) << 8 | UInt16(f.payload[1])
        precondition(WebSocketProtocol.isValidReceivedCode(code), "server sent close code \(code)")
    }
}

@_cdecl("LLVMFuzzerTestOneInput")
public func fuzzWebSocket(_ data: UnsafePointer<UInt8>, _ size: Int) -> CInt {
    guard size >= 1 else { return 0 }
    let limits = [0, 1, 125, 126, 4096, 65536, 1 << 20]
    let limit = limits[Int(data[0]) % limits.count]
    let decoder = WebSocketFrameDecoder(maxPayload: limit)
    var proto = WebSocketProtocol(maxMessage: limit)
    let input = UnsafeBufferPointer(start: data + 1, count: size - 1)

    var at = 0
    var closed = false
    while at < input.count {
        switch fuzzDecode(decoder, UnsafeBufferPointer(rebasing: input[at...])) {
        case .needMore:
            return 0
        case .failure(let code):
            precondition(code == .protocolError || code == .messageTooBig, "decoder failure \(code)")
            for a in proto.fail(code) { if case .send(let f) = a { fuzzCheckSent(f) } }
            return 0
        case .frame(let frame, let consumed):
            at += consumed
            let actions = proto.receive(frame)
            if closed { precondition(actions.isEmpty, "actions after close") }
            for (i, a) in actions.enumerated() {
                switch a {
                case .send(let f): fuzzCheckSent(f)
                case .deliverText(let t): precondition(t.utf8.count <= limit, "text message over the limit")
                case .deliverBinary(let b): precondition(b.count <= limit, "binary message over the limit")
                case .closeConnection:
                    precondition(i == actions.count - 1, "closeConnection is not last")
                    closed = true
                }
            }
            if closed { precondition(proto.state == .closed && proto.receive(frame).isEmpty, "still alive after close") }
        }
    }
    return 0
}
