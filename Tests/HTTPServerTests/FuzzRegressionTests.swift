import Foundation
import Testing
@testable import HTTPServer
@testable import WebSocket

// Hostile input, unit level: the request head parser, body framing, the chunked decoder
// and the WebSocket frame decoder + protocol get thousands of mutated and random inputs
// from a seeded PRNG (the same inputs on every run), and a regression corpus of named
// cases (fuzzer findings and known-nasty inputs, base64). Every input must produce a
// value or a typed error, never a trap, and the invariants the libFuzzer harnesses in
// fuzz/ check hold here too. A failing fuzz iteration prints its input in base64: add it
// to the corpus below.

// MARK: - Deterministic randomness and mutation

/// SplitMix64 (Steele, Lea and Flood, 2014): tiny, fast, and one fixed sequence per seed.
struct FuzzRNG {
    private var state: UInt64
    init(seed: UInt64) { state = seed }

    mutating func next() -> UInt64 {
        state &+= 0x9E37_79B9_7F4A_7C15
        var z = state
        z = (z ^ (z >> 30)) &* 0xBF58_476D_1CE4_E5B9
        z = (z ^ (z >> 27)) &* 0x94D0_49BB_1331_11EB
        return z ^ (z >> 31)
    }

    /// Uniform enough in 0..<n (n > 0) for test input generation.
    mutating func below(_ n: Int) -> Int { Int(next() % UInt64(n)) }
    mutating func chance(_ percent: Int) -> Bool { below(100) < percent }
    mutating func bytes(_ n: Int) -> [UInt8] { (0..<n).map { _ in UInt8(truncatingIfNeeded: next()) } }
    mutating func pick<T>(_ items: [T]) -> T { items[below(items.count)] }
}

/// Byte-level mutations in the spirit of libFuzzer's mutators, plus the values that
/// break parsers: CR/LF/NUL/0xFF, huge numbers, invalid UTF-8, long runs.
enum Mutator {
    static let specials: [[UInt8]] = [[13], [10], [13, 10], [0], [0xFF], [0x20], [0x09], [0x3A], [0x2C], [0x3B], [0x7F], [13, 10, 13, 10]]
    static let hugeNumbers = ["99999999999999999999", "ffffffffffffffffff", "18446744073709551616", "9223372036854775808",
                              "9223372036854775807", "-1", "0x10", "1e3", "000000000000000000001", "fffffffffffffff"]
    static let invalidUTF8: [[UInt8]] = [[0xC0, 0xAF], [0xED, 0xA0, 0x80], [0xF8, 0x88, 0x80, 0x80, 0x80], [0xFE], [0xE2, 0x82],
                                         [0xF4, 0x90, 0x80, 0x80], [0x80]]

    static func mutate(_ input: [UInt8], _ rng: inout FuzzRNG, maxOps: Int = 3) -> [UInt8] {
        var b = input
        for _ in 0..<(1 + rng.below(maxOps)) {
            let at = rng.below(b.count + 1)
            switch rng.below(10) {
            case 0:   // bit flip
                if !b.isEmpty { b[rng.below(b.count)] ^= UInt8(1) << UInt8(rng.below(8)) }
            case 1:   // truncation
                b = Array(b.prefix(at))
            case 2:   // duplicate a range somewhere
                if !b.isEmpty {
                    let s = rng.below(b.count)
                    b.insert(contentsOf: Array(b[s..<min(b.count, s + 1 + rng.below(64))]), at: at)
                }
            case 3: b.insert(contentsOf: rng.pick(specials), at: at)
            case 4: b.insert(contentsOf: Array(rng.pick(hugeNumbers).utf8), at: at)
            case 5:   // delete a range
                if !b.isEmpty {
                    let s = rng.below(b.count)
                    b.removeSubrange(s..<min(b.count, s + 1 + rng.below(16)))
                }
            case 6: if !b.isEmpty { b[rng.below(b.count)] = UInt8(truncatingIfNeeded: rng.next()) }
            case 7: b.insert(contentsOf: rng.bytes(1 + rng.below(16)), at: at)
            case 8: b.insert(contentsOf: rng.pick(invalidUTF8), at: at)
            default:  // a long run of one byte: long lines, long numbers
                let unit = b.isEmpty ? UInt8(ascii: "a") : b[rng.below(b.count)]
                b.insert(contentsOf: [UInt8](repeating: unit, count: 100 + rng.below(3000)), at: at)
            }
        }
        return b
    }
}

/// Collects invariant violations; the first few are recorded with their input in
/// base64, ready to paste into the corpus.
struct Findings {
    private(set) var count = 0

    mutating func check(_ ok: Bool, _ what: @autoclosure () -> String, _ input: [UInt8],
                        sourceLocation: SourceLocation = #_sourceLocation) {
        guard !ok else { return }
        count += 1
        if count <= 10 {
            Issue.record(Comment(rawValue: "\(what()); input (base64): \(Data(input).base64EncodedString())"),
                         sourceLocation: sourceLocation)
        }
    }
}

// MARK: - Oracles (the same invariants as fuzz/*.swift)

enum HeadOutcome: Equatable {
    struct Summary: Equatable {
        var method, target, path: String
        var query: String?
        var version: HTTPVersion
        var headers: [String]
        var consumed: Int
    }
    case head(Summary)
    case needMore
    case error(HTTPParseError)

    var isError: Bool { if case .error = self { return true } else { return false } }
}

enum HeadOracle {
    /// Feeds growing prefixes of `bytes` (ending at each cut, then all) to one parser.
    static func parse(_ bytes: [UInt8], cuts: [Int] = [], maxHeaderBytes: Int, maxHeaderCount: Int,
                      _ f: inout Findings) -> (HeadOutcome, HTTPRequestHead?) {
        var parser = RequestHeadParser(maxHeaderBytes: maxHeaderBytes, maxHeaderCount: maxHeaderCount)
        for cut in cuts + [bytes.count] {
            do {
                let outcome = try bytes[0..<cut].withUnsafeBufferPointer { try parser.parse($0) }
                if case .head(let h, let consumed) = outcome {
                    f.check(consumed <= cut, "consumed \(consumed) of \(cut)", bytes)
                    let s = HeadOutcome.Summary(method: h.method.rawValue, target: h.target, path: h.path, query: h.query,
                                                version: h.version, headers: h.headers.fields.map { "\($0.name): \($0.value)" },
                                                consumed: consumed)
                    return (.head(s), h)
                }
                if cut == bytes.count { return (.needMore, nil) }
            } catch let e as HTTPParseError {
                return (.error(e), nil)
            } catch {
                f.check(false, "untyped error \(error)", bytes)
                return (.needMore, nil)
            }
        }
        return (.needMore, nil)
    }

    /// Parses whole, split in two, and (if `bytewise`) one byte at a time; checks every
    /// invariant; returns the whole-buffer outcome and the head.
    @discardableResult
    static func check(_ bytes: [UInt8], splitAt cut: Int, bytewise: Bool, maxHeaderBytes: Int = 16 * 1024,
                      maxHeaderCount: Int = 100, _ f: inout Findings) -> (HeadOutcome, HTTPRequestHead?) {
        let (whole, head) = parse(bytes, maxHeaderBytes: maxHeaderBytes, maxHeaderCount: maxHeaderCount, &f)
        var deliveries = [("split at \(cut)", [min(cut, bytes.count)])]
        if bytewise { deliveries.append(("byte at a time", Array(0..<bytes.count))) }
        for (how, cuts) in deliveries {
            let (other, _) = parse(bytes, cuts: cuts, maxHeaderBytes: maxHeaderBytes, maxHeaderCount: maxHeaderCount, &f)
            f.check(whole.isError ? other.isError : other == whole, "\(how): \(other) but whole: \(whole)", bytes)
        }
        guard case .head(let s) = whole, let h = head else { return (whole, nil) }

        f.check(s.consumed >= 4 && s.consumed <= bytes.count && Array(bytes[(s.consumed - 4)..<s.consumed]) == [13, 10, 13, 10],
                "head does not end in CRLFCRLF at \(s.consumed)", bytes)
        let (prefix, _) = parse(Array(bytes[0..<s.consumed]), maxHeaderBytes: maxHeaderBytes, maxHeaderCount: maxHeaderCount, &f)
        f.check(prefix == whole, "the consumed prefix parses differently", bytes)

        func clean(_ s: String) -> Bool { !s.utf8.contains { $0 == 13 || $0 == 10 || $0 == 0 } }
        f.check(!h.method.rawValue.isEmpty && h.method.rawValue.utf8.allSatisfy(HTTPGrammar.isTokenChar), "method", bytes)
        f.check(clean(h.target) && clean(h.path) && clean(h.query ?? ""), "CR/LF/NUL in target", bytes)
        f.check(h.target.utf8.allSatisfy { $0 > 0x20 && $0 < 0x7F }, "target with SP/CTL/non-ASCII", bytes)
        f.check(h.path.hasPrefix("/") || h.path == "*", "path \(h.path.debugDescription)", bytes)
        f.check(h.version == .http1_0 || h.version == .http1_1, "version", bytes)
        f.check(h.headers.count <= maxHeaderCount, "too many headers accepted", bytes)
        for field in h.headers.fields {
            f.check(clean(field.name) && clean(field.value), "CR/LF/NUL in header \(field.name.debugDescription)", bytes)
            f.check(!field.name.isEmpty && field.name.utf8.allSatisfy { HTTPGrammar.isTokenChar($0) && !(0x41...0x5A).contains($0) },
                    "header name not lower-case tchar", bytes)
            let v = Array(field.value.utf8)
            f.check(v.first.map { $0 != 0x20 && $0 != 0x09 } ?? true && v.last.map { $0 != 0x20 && $0 != 0x09 } ?? true,
                    "header value not trimmed", bytes)
        }
        if h.version == .http1_1 { f.check(h.headers.values("host").count == 1, "HTTP/1.1 without exactly one Host", bytes) }
        _ = (h.keepAlive, h.acceptsGzip, h.query.flatMap(URLEncoding.parseQuery))
        for segment in h.path.split(separator: "/") { _ = URLEncoding.percentDecode(segment) }

        let te = h.headers.values("transfer-encoding"), cl = h.headers.values("content-length")
        do {
            switch try BodyFraming.of(h) {
            case .chunked: f.check(h.version == .http1_1 && cl.isEmpty && !te.isEmpty, "chunked framing", bytes)
            case .length(let n): f.check(te.isEmpty && !cl.isEmpty && n > 0 && n < 1_000_000_000_000_000, "length \(n)", bytes)
            case .none: f.check(te.isEmpty, "Transfer-Encoding ignored", bytes)
            }
        } catch {   // typed: HTTPParseError
            if !te.isEmpty && !cl.isEmpty { f.check(error == .contentLengthWithTransferEncoding, "CL+TE gave \(error)", bytes) }
            f.check((400...599).contains(error.status.code), "framing error \(error) maps to \(error.status.code)", bytes)
        }
        return (whole, h)
    }
}

struct ChunkedOutcome: Equatable {
    var body: [UInt8]
    var consumed: Int   // -1 after an error (feed threw, so how far it got is not reported)
    var done: Bool
    var error: HTTPParseError?
}

enum ChunkedOracle {
    static func feed(_ input: [UInt8], limit: Int, cuts: [Int], _ f: inout Findings) -> ChunkedOutcome {
        var decoder = ChunkedDecoder(maxBodyBytes: limit)
        var body: [UInt8] = []
        var at = 0
        for cut in cuts + [input.count] where cut > at {
            do {
                let before = body.count, piece = cut - at
                let used = try input[at..<cut].withUnsafeBufferPointer { try decoder.feed($0, into: &body) }
                f.check(used <= piece, "consumed \(used) of \(piece)", input)
                f.check(body.count - before <= used, "output grew more than the input consumed", input)
                at += used
                if decoder.isDone { break }
                f.check(used == piece, "stopped early without being done", input)
            } catch let e as HTTPParseError {
                return ChunkedOutcome(body: body, consumed: -1, done: false, error: e)
            } catch {
                f.check(false, "untyped error \(error)", input)
            }
        }
        return ChunkedOutcome(body: body, consumed: at, done: decoder.isDone, error: nil)
    }

    @discardableResult
    static func check(_ input: [UInt8], limit: Int, splitAt cut: Int, bytewise: Bool, _ f: inout Findings) -> ChunkedOutcome {
        let whole = feed(input, limit: limit, cuts: [], &f)
        f.check(whole.consumed <= input.count, "consumed more than given", input)
        f.check(whole.body.count <= input.count && whole.body.count <= limit, "output larger than input or limit", input)
        if whole.error == nil { f.check(whole.body.count <= whole.consumed, "output larger than consumed", input) }
        if whole.done {
            f.check(whole.consumed >= 5 && Array(input[(whole.consumed - 2)..<whole.consumed]) == [13, 10], "done without CRLF", input)
            let reencoded = (whole.body.isEmpty ? [] : Array(String(whole.body.count, radix: 16).utf8) + [13, 10] + whole.body + [13, 10])
                + Array("0\r\n\r\n".utf8)
            let again = feed(reencoded, limit: limit, cuts: [], &f)
            f.check(again.done && again.body == whole.body, "re-encoded body decodes differently", input)
        }
        f.check(feed(input, limit: limit, cuts: [cut], &f) == whole, "split at \(cut) differs", input)
        if bytewise { f.check(feed(input, limit: limit, cuts: Array(0..<input.count), &f) == whole, "byte at a time differs", input) }
        return whole
    }
}

enum FrameOutcome: Equatable, Sendable {
    case closes(WebSocketCloseCode)
    case delivers(Int)
    case needMore
}

enum FrameOracle {
    /// Drives the decoder and protocol over `stream` the way WebSocketSession does.
    static func run(_ stream: [UInt8], limit: Int = 4096, _ f: inout Findings) -> FrameOutcome {
        let decoder = WebSocketFrameDecoder(maxPayload: limit)
        var proto = WebSocketProtocol(maxMessage: limit)
        var at = 0, delivered = 0
        var closedWith: WebSocketCloseCode? = nil
        func apply(_ actions: [WebSocketProtocol.Action], _ f: inout Findings) {
            if closedWith != nil { f.check(actions.isEmpty, "actions after close", stream) }
            for (i, a) in actions.enumerated() {
                switch a {
                case .send(let frame):
                    f.check(!frame.opcode.isControl || frame.payload.count <= 125, "server control frame too big", stream)
                    if frame.opcode == .close, frame.payload.count >= 2, closedWith == nil {
                        let code = UInt16(frame.payload[0]) << 8 | UInt16(frame.payload[1])
                        f.check(WebSocketProtocol.isValidReceivedCode(code), "server sent close code \(code)", stream)
                        closedWith = WebSocketCloseCode(rawValue: code) ?? .normal
                    }
                case .deliverText(let t):
                    f.check(t.utf8.count <= limit, "text over the limit", stream); delivered += 1
                case .deliverBinary(let b):
                    f.check(b.count <= limit, "binary over the limit", stream); delivered += 1
                case .closeConnection:
                    f.check(i == actions.count - 1, "closeConnection is not last", stream)
                    if closedWith == nil { closedWith = .normal }
                }
            }
        }
        while at < stream.count {
            let rest = Array(stream[at...])
            let outcome = rest.withUnsafeBufferPointer { decoder.decode($0) }
            switch outcome {
            case .needMore:
                return closedWith.map(FrameOutcome.closes) ?? .needMore
            case .failure(let code):
                if closedWith == nil { apply(proto.fail(code), &f) }
                return .closes(closedWith ?? code)
            case .frame(let frame, let consumed):
                f.check(consumed <= rest.count && frame.payload.count <= limit, "frame bounds", stream)
                let header = rest[1] & 0x7F == 127 ? 10 : rest[1] & 0x7F == 126 ? 4 : 2
                f.check(consumed == header + 4 + frame.payload.count, "consumed does not match the frame", stream)
                for k in [0, 1, header, consumed - 1] where k < consumed {
                    f.check(rest[0..<k].withUnsafeBufferPointer { decoder.decode($0) } == .needMore, "prefix \(k) not needMore", stream)
                }
                at += consumed
                apply(proto.receive(frame), &f)
            }
        }
        return closedWith.map(FrameOutcome.closes) ?? .delivers(delivered)
    }
}

// MARK: - Seeded fuzzing

struct FuzzRegressionTests {
    static let requestSeeds: [String] = [
        "GET / HTTP/1.1\r\nHost: a\r\n\r\n",
        "POST /v1/rooms/7/messages?x=1&y=%20 HTTP/1.1\r\nHost: a\r\nContent-Type: application/json\r\nContent-Length: 2\r\nConnection: keep-alive\r\n\r\n{}",
        "POST /echo HTTP/1.1\r\nHost: a\r\nTransfer-Encoding: chunked\r\nExpect: 100-continue\r\n\r\n5\r\nhello\r\n0\r\n\r\n",
        "GET /ws HTTP/1.1\r\nHost: a\r\nUpgrade: websocket\r\nConnection: Upgrade\r\nSec-WebSocket-Key: dGhlIHNhbXBsZSBub25jZQ==\r\nSec-WebSocket-Version: 13\r\n\r\n",
        "GET http://example.com/p/%E2%82%AC?q=%C3%A9&r HTTP/1.1\r\nHost: example.com\r\nAccept-Encoding: gzip;q=0, br\r\n\r\n",
        "\r\nOPTIONS * HTTP/1.0\r\nContent-Length: 5, 5\r\n\r\nhello",
        "GET /a HTTP/1.1\r\nHost: a\r\n\r\nGET /b HTTP/1.1\r\nHost: a\r\n\r\n",
        "DELETE /items/%2F HTTP/1.1\r\nHost: a\r\nAuthorization: Bearer ph_abc\r\nX-Empty:\r\n\r\n",
    ]

    @Test func requestHeadsFromMutatedRequests() {
        var rng = FuzzRNG(seed: 0x5EED_0001)
        var f = Findings()
        var kinds = [0, 0, 0]   // head, needMore, error
        let seeds = Self.requestSeeds.map { Array($0.utf8) }
        for i in 0..<3000 {
            let input = i % 10 == 9 ? rng.bytes(rng.below(300)) : Mutator.mutate(rng.pick(seeds), &rng)
            let (outcome, _) = HeadOracle.check(input, splitAt: rng.below(input.count + 1), bytewise: i % 16 == 0 && input.count <= 600,
                                                maxHeaderBytes: 2048, maxHeaderCount: 16, &f)
            switch outcome {
            case .head: kinds[0] += 1
            case .needMore: kinds[1] += 1
            case .error: kinds[2] += 1
            }
        }
        #expect(f.count == 0)
        // The mutations must exercise all three outcomes, or this test tests little.
        #expect(kinds.allSatisfy { $0 > 100 }, "head/needMore/error: \(kinds)")
    }

    @Test func bodyFramingOfHostileLengthsAndCodings() {
        var rng = FuzzRNG(seed: 0x5EED_0002)
        var f = Findings()
        let values = ["0", "5", "007", "5, 5", "5,6", " 5 ", "", ",", "-1", "+5", "0x10", "1e3", "5 5", "\u{0}5"]
            + Mutator.hugeNumbers
        let codings = ["chunked", "Chunked", "gzip, chunked", "chunked, chunked", "identity", "", ",chunked", "chunked;q=1", " chunked "]
        for _ in 0..<1000 {
            var fields: [String] = []
            for _ in 0..<rng.below(3) { fields.append("Content-Length: " + rng.pick(values)) }
            for _ in 0..<rng.below(2) { fields.append("Transfer-Encoding: " + rng.pick(codings)) }
            let version = rng.chance(80) ? "HTTP/1.1" : "HTTP/1.0"
            let text = "POST / \(version)\r\nHost: a\r\n" + fields.map { $0 + "\r\n" }.joined() + "\r\n"
            HeadOracle.check(Array(text.utf8), splitAt: rng.below(text.utf8.count), bytewise: false, &f)
        }
        #expect(f.count == 0)
    }

    static let chunkedSeeds: [String] = [
        "5\r\nhello\r\n0\r\n\r\n",
        "3;ext=1;q=\"x\"\r\nabc\r\nA \r\n0123456789\r\n0\r\nTrailer: x\r\n\r\nGET / HTTP/1.1\r\n",
        "1\r\na\r\n1\r\nb\r\n1\r\nc\r\n0\r\n\r\n",
        "0\r\n\r\n",
        "10\r\n0123456789abcdef\r\n0\r\nA: 1\r\nB: 2\r\n\r\n",
    ]

    @Test func chunkedBodiesFromMutatedStreams() {
        var rng = FuzzRNG(seed: 0x5EED_0003)
        var f = Findings()
        var done = 0, failed = 0
        let seeds = Self.chunkedSeeds.map { Array($0.utf8) }
        for i in 0..<3000 {
            let input = i % 10 == 9 ? rng.bytes(rng.below(200)) : Mutator.mutate(rng.pick(seeds), &rng)
            let limit = rng.pick([0, 1, 16, 4096, 1 << 20])
            let r = ChunkedOracle.check(input, limit: limit, splitAt: rng.below(input.count + 1),
                                        bytewise: i % 8 == 0 && input.count <= 400, &f)
            if r.done { done += 1 }
            if r.error != nil { failed += 1 }
        }
        #expect(f.count == 0)
        #expect(done > 100 && failed > 100, "done \(done), failed \(failed)")
    }

    @Test func webSocketFramesFromMutatedStreams() {
        var rng = FuzzRNG(seed: 0x5EED_0004)
        var f = Findings()
        let m = FuzzCorpus.masked
        let seeds: [[UInt8]] = [
            m(0x81, Array("hello".utf8)),
            m(0x01, Array("hel".utf8)) + m(0x89, [1, 2]) + m(0x80, Array("lo wörld".utf8)),
            m(0x88, [0x03, 0xE8] + Array("bye".utf8)) + m(0x81, Array("late".utf8)),
            m(0x82, [UInt8](repeating: 7, count: 300)) + m(0x8A, []),
            [0x81, 0xFF, 0, 0, 0, 0, 0, 0, 0, 3, 1, 2, 3, 4, 0x69, 0x6B, 0x6C],   // 64-bit length field, 3 bytes
        ]
        var closes = 0, delivers = 0
        for i in 0..<3000 {
            let input = i % 10 == 9 ? rng.bytes(rng.below(64)) : Mutator.mutate(rng.pick(seeds), &rng)
            switch FrameOracle.run(input, limit: rng.pick([125, 4096]), &f) {
            case .closes: closes += 1
            case .delivers(let n): if n > 0 { delivers += 1 }
            case .needMore: break
            }
        }
        #expect(f.count == 0)
        #expect(closes > 100 && delivers > 100, "closes \(closes), delivers \(delivers)")
    }

    // MARK: - Regression corpus

    @Test(arguments: FuzzCorpus.heads)
    func headCorpus(_ c: HeadCase) {
        var f = Findings()
        let (outcome, head) = HeadOracle.check(c.bytes, splitAt: c.bytes.count / 2, bytewise: c.bytes.count <= 2000, &f)
        #expect(f.count == 0)
        let got: HeadExpect
        switch outcome {
        case .needMore: got = .needMore
        case .error(let e): got = .headError(e)
        case .head:
            do { got = .framing(try BodyFraming.of(head!)) } catch { got = .framingError(error) }
        }
        #expect(got == c.expect, "\(c.name)")
    }

    @Test(arguments: FuzzCorpus.chunked)
    func chunkedCorpus(_ c: ChunkedCase) {
        var f = Findings()
        let r = ChunkedOracle.check(c.bytes, limit: 1 << 20, splitAt: c.bytes.count / 2, bytewise: c.bytes.count <= 2000, &f)
        #expect(f.count == 0)
        let got: ChunkedExpect
        if let e = r.error { got = .error(e) }
        else if r.done { got = .body(String(decoding: r.body, as: UTF8.self), consumed: r.consumed) }
        else { got = .incomplete(bodySoFar: r.body.count) }
        #expect(got == c.expect, "\(c.name)")
    }

    @Test(arguments: FuzzCorpus.webSocket)
    func webSocketCorpus(_ c: FrameCase) {
        var f = Findings()
        let outcome = FrameOracle.run(c.bytes, &f)
        #expect(outcome == c.expect, "\(c.name)")
        #expect(f.count == 0)
    }
}

// MARK: - Corpus

enum HeadExpect: Equatable, Sendable {
    case headError(HTTPParseError)
    case needMore
    case framing(BodyFraming)
    case framingError(HTTPParseError)
}

enum ChunkedExpect: Equatable, Sendable {
    case error(HTTPParseError)
    case body(String, consumed: Int)
    case incomplete(bodySoFar: Int)
}

struct CorpusCase<Expect: Sendable>: Sendable, CustomTestStringConvertible {
    let name: String
    let expect: Expect
    let bytes: [UInt8]
    init(_ name: String, _ expect: Expect, _ base64: String) {
        self.name = name
        self.expect = expect
        self.bytes = Array(Data(base64Encoded: base64) ?? Data())
        precondition(Data(base64Encoded: base64) != nil, "bad base64 in corpus case \(name)")
    }
    init(_ name: String, _ expect: Expect, bytes: [UInt8]) {
        self.name = name
        self.expect = expect
        self.bytes = bytes
    }
    var testDescription: String { name }
}

typealias HeadCase = CorpusCase<HeadExpect>
typealias ChunkedCase = CorpusCase<ChunkedExpect>
typealias FrameCase = CorpusCase<FrameOutcome>

/// Inputs worth keeping: fuzzer findings and the known-nasty cases, one name each.
/// Head cases are checked with the server's default limits (16 KiB, 100 fields), chunked
/// cases with its default body limit (1 MiB), WebSocket cases with 4096-byte frames.
enum FuzzCorpus {
    /// A client frame (masked, as clients must), for cases easier to read as code.
    static func masked(_ b0: UInt8, _ payload: [UInt8]) -> [UInt8] {
        let mask: [UInt8] = [0x37, 0xFA, 0x21, 0x3D]
        var out: [UInt8] = [b0]
        let n = payload.count
        if n < 126 { out.append(0x80 | UInt8(n)) }
        else if n <= 0xFFFF { out += [0xFE, UInt8(n >> 8), UInt8(n & 0xFF)] }
        else { out.append(0xFF); for i in (0..<8).reversed() { out.append(UInt8(truncatingIfNeeded: UInt64(n) >> (UInt64(i) * 8))) } }
        out += mask
        for (i, b) in payload.enumerated() { out.append(b ^ mask[i & 3]) }
        return out
    }

    static let heads: [HeadCase] = [
        HeadCase("Content-Length of 20 nines", .framingError(.invalidContentLength),
              "UE9TVCAvIEhUVFAvMS4xDQpIb3N0OiBhDQpDb250ZW50LUxlbmd0aDogOTk5OTk5OTk5OTk5OTk5OTk5OTkNCg0K"),
        HeadCase("Content-Length of 16 digits", .framingError(.invalidContentLength),
              "UE9TVCAvIEhUVFAvMS4xDQpIb3N0OiBhDQpDb250ZW50LUxlbmd0aDogMTAwMDAwMDAwMDAwMDAwMA0KDQo="),
        HeadCase("Content-Length of 15 digits parses (the body limit refuses it)", .framing(.length(999_999_999_999_999)),
              "UE9TVCAvIEhUVFAvMS4xDQpIb3N0OiBhDQpDb250ZW50LUxlbmd0aDogOTk5OTk5OTk5OTk5OTk5DQoNCg=="),
        HeadCase("Content-Length negative", .framingError(.invalidContentLength), "UE9TVCAvIEhUVFAvMS4xDQpIb3N0OiBhDQpDb250ZW50LUxlbmd0aDogLTENCg0K"),
        HeadCase("Content-Length Int64.max+1", .framingError(.invalidContentLength),
              "UE9TVCAvIEhUVFAvMS4xDQpIb3N0OiBhDQpDb250ZW50LUxlbmd0aDogOTIyMzM3MjAzNjg1NDc3NTgwOA0KDQo="),
        HeadCase("Content-Length list that conflicts", .framingError(.conflictingContentLength),
              "UE9TVCAvIEhUVFAvMS4xDQpIb3N0OiBhDQpDb250ZW50LUxlbmd0aDogNSwgNg0KDQo="),
        HeadCase("Content-Length with empty list member", .framingError(.invalidContentLength),
              "UE9TVCAvIEhUVFAvMS4xDQpIb3N0OiBhDQpDb250ZW50LUxlbmd0aDogNSwNCg0K"),
        HeadCase("Content-Length with Transfer-Encoding", .framingError(.contentLengthWithTransferEncoding),
              "UE9TVCAvIEhUVFAvMS4xDQpIb3N0OiBhDQpDb250ZW50LUxlbmd0aDogNQ0KVHJhbnNmZXItRW5jb2Rpbmc6IGNodW5rZWQNCg0K"),
        HeadCase("Transfer-Encoding on HTTP/1.0", .framingError(.unsupportedTransferEncoding),
              "UE9TVCAvIEhUVFAvMS4wDQpUcmFuc2Zlci1FbmNvZGluZzogY2h1bmtlZA0KDQo="),
        HeadCase("Transfer-Encoding chunked twice", .framingError(.unsupportedTransferEncoding),
              "UE9TVCAvIEhUVFAvMS4xDQpIb3N0OiBhDQpUcmFuc2Zlci1FbmNvZGluZzogY2h1bmtlZA0KVHJhbnNmZXItRW5jb2Rpbmc6IGNodW5rZWQNCg0K"),
        HeadCase("NUL in the target", .headError(.invalidTarget), "R0VUIC9hAGIgSFRUUC8xLjENCkhvc3Q6IGENCg0K"),
        HeadCase("0xFF in the target", .headError(.invalidTarget), "R0VUIC//IEhUVFAvMS4xDQpIb3N0OiBhDQoNCg=="),
        HeadCase("0xFF in the method", .headError(.malformedRequestLine), "R/9UIC8gSFRUUC8xLjENCkhvc3Q6IGENCg0K"),
        HeadCase("NUL in a header name", .headError(.malformedHeader), "R0VUIC8gSFRUUC8xLjENCkhvc3Q6IGENClgAOiB5DQoNCg=="),
        HeadCase("CR inside a header value", .headError(.malformedHeader), "R0VUIC8gSFRUUC8xLjENCkhvc3Q6IGENClg6IGENYg0KDQo="),
        HeadCase("DEL inside a header value", .headError(.malformedHeader), "R0VUIC8gSFRUUC8xLjENCkhvc3Q6IGENClg6IGF/Yg0KDQo="),
        HeadCase("invalid UTF-8 in a header value is opaque obs-text", .framing(.none), "R0VUIC8gSFRUUC8xLjENCkhvc3Q6IGENClg6IMCv7aCA/w0KDQo="),
        HeadCase("bare LF after leading CRLF", .headError(.bareLineFeed), "DQoKR0VUIC8gSFRUUC8xLjENCkhvc3Q6IGENCg0K"),
        HeadCase("bare LF ending the head", .headError(.bareLineFeed), "R0VUIC8gSFRUUC8xLjENCkhvc3Q6IGENCgo="),
        HeadCase("only empty lines", .needMore, "DQoNCg0KDQo="),
        HeadCase("lone CR at the end", .needMore, "R0VUIC8gSFRUUC8xLjENCkhvc3Q6IGENCg0="),
        HeadCase("version with three digits", .headError(.malformedRequestLine), "R0VUIC8gSFRUUC8xLjEyDQpIb3N0OiBhDQoNCg=="),
        HeadCase("lower-case version", .headError(.malformedRequestLine), "R0VUIC8gaHR0cC8xLjENCkhvc3Q6IGENCg0K"),
        HeadCase("HTTP/0.9 style request line", .headError(.malformedRequestLine), "R0VUIC8NCg0K"),
        HeadCase("absolute-form without a path", .framing(.none), "R0VUIGh0dHA6Ly9hIEhUVFAvMS4xDQpIb3N0OiBhDQoNCg=="),
        HeadCase("absolute-form with another scheme", .headError(.invalidTarget), "R0VUIGZ0cDovL2EvIEhUVFAvMS4xDQpIb3N0OiBhDQoNCg=="),
        HeadCase("Host twice", .headError(.missingHost), "R0VUIC8gSFRUUC8xLjENCkhvc3Q6IGENCmhvc3Q6IGINCg0K"),
        HeadCase("obs-fold with a tab", .headError(.obsoleteLineFolding), "R0VUIC8gSFRUUC8xLjENCkhvc3Q6IGENCglmb2xkZWQNCg0K"),
        HeadCase("tab before the colon", .headError(.malformedHeader), "R0VUIC8gSFRUUC8xLjENCkhvc3QJOiBhDQoNCg=="),
        HeadCase("pipelined request after the head is not consumed", .framing(.none), "R0VUIC8gSFRUUC8xLjENCkhvc3Q6IGENCg0KR0VUIC94IEhUVFAvMS4xDQo="),
        HeadCase("header line of 20,000 bytes", .headError(.headerTooLarge),
                 bytes: Array(("GET / HTTP/1.1\r\nHost: a\r\nX: " + String(repeating: "a", count: 20_000) + "\r\n\r\n").utf8)),
        HeadCase("unterminated head of 17,000 bytes", .headError(.headerTooLarge),
                 bytes: Array(("GET / HTTP/1.1\r\nX: " + String(repeating: "a", count: 17_000)).utf8)),
        HeadCase("101 header fields", .headError(.tooManyHeaders),
                 bytes: Array(("GET / HTTP/1.1\r\nHost: a\r\n" + String(repeating: "X: y\r\n", count: 100) + "\r\n").utf8)),
    ]

    static let chunked: [ChunkedCase] = [
        ChunkedCase("chunk size ffffffffffffffffff", .error(.invalidChunkSize), "ZmZmZmZmZmZmZmZmZmZmZmZmDQo="),
        ChunkedCase("chunk size of 15 hex digits exceeds the body limit", .error(.bodyTooLarge), "ZmZmZmZmZmZmZmZmZmZmDQo="),
        ChunkedCase("chunk size of 16 digits with leading zeros", .error(.invalidChunkSize), "MDAwMDAwMDAwMDAwMDAwNQ0KaGVsbG8NCjANCg0K"),
        ChunkedCase("negative chunk size", .error(.invalidChunkSize), "LTENCg=="),
        ChunkedCase("empty chunk size", .error(.invalidChunkSize), "DQo="),
        ChunkedCase("bare LF after the size", .error(.invalidChunkSize), "NQpoZWxsbw0KMA0KDQo="),
        ChunkedCase("NUL inside a chunk extension", .error(.invalidChunkFraming), "NTthPQANCmhlbGxvDQowDQoNCg=="),
        ChunkedCase("data longer than its size", .error(.invalidChunkFraming), "Mw0KaGVsbG8NCjANCg0K"),
        ChunkedCase("bare LF in a trailer", .error(.invalidChunkFraming), "MA0KWDogeQoNCg=="),
        ChunkedCase("size whitespace then garbage", .error(.invalidChunkSize), "NSB4DQpoZWxsbw0KMA0KDQo="),
        ChunkedCase("valid body with extension, trailer and a pipelined request", .body("hello world", consumed: 37),
              "NTt4PTENCmhlbGxvDQo2IA0KIHdvcmxkDQowDQpUOiB2DQoNCkdFVCAvIEhUVFAvMS4xDQo="),
        ChunkedCase("truncated in the data", .incomplete(bodySoFar: 3), "NQ0KaGVs"),
        ChunkedCase("trailer over the limit", .error(.headerTooLarge),
                    bytes: Array(("0\r\nX: " + String(repeating: "a", count: 20_000) + "\r\n\r\n").utf8)),
    ]

    static let webSocket: [FrameCase] = [
        FrameCase("64-bit length overflow from SWIFT-NOTES G16", .closes(.protocolError), "//////+ysrKy//////8="),
        FrameCase("64-bit length with the MSB set", .closes(.protocolError), "gv///////////wAAAAA="),
        FrameCase("64-bit length of 2^62", .closes(.messageTooBig), "gv9AAAAAAAAAAAAAAAA="),
        FrameCase("64-bit length of Int.max", .closes(.messageTooBig), "gv9//////////wAAAAA="),
        FrameCase("16-bit length over the limit", .closes(.messageTooBig), "gv4QAQAAAAA="),
        FrameCase("unmasked client frame", .closes(.protocolError), "gQJoaQ=="),
        FrameCase("RSV1 set", .closes(.protocolError), "wYI3+iE9X5M="),
        FrameCase("reserved opcode 0x3", .closes(.protocolError), "g4I3+iE9X5M="),
        FrameCase("fragmented ping", .closes(.protocolError), "CYA3+iE9"),
        FrameCase("close with a one-byte payload", .closes(.protocolError), "iIE3+iE9NA=="),
        FrameCase("close with reserved code 1005", .closes(.protocolError), "iII3+iE9NBc="),
        FrameCase("close with code 999", .closes(.protocolError), "iII3+iE9NB0="),
        FrameCase("close reason of invalid UTF-8", .closes(.invalidPayload), "iIQ3+iE9NBLhkg=="),
        FrameCase("text of invalid UTF-8", .closes(.invalidPayload), "gYM3+iE92lqh"),
        FrameCase("text split inside a UTF-8 sequence is fine", .delivers(1), "AYE3+iE99ICBN/ohPZ4="),
        FrameCase("continuation without a start", .closes(.protocolError), "gIE3+iE9Tw=="),
        FrameCase("new text inside a fragmented message", .closes(.protocolError), "AYE3+iE9VoGBN/ohPVU="),
        FrameCase("ping between fragments is answered", .delivers(1), "AYE3+iE9VomBN/ohPUeAgTf6IT1V"),
        FrameCase("frames after a close are ignored", .closes(.normal), "iII3+iE9NBKBhDf6IT1bm1VY"),
        FrameCase("header only", .needMore, "gf4A"),
        FrameCase("ping of 126 bytes", .closes(.protocolError), bytes: masked(0x89, Array(repeating: 0x70, count: 126))),
        FrameCase("fragments adding up over the limit", .closes(.messageTooBig),
                  bytes: masked(0x01, Array(repeating: 0x61, count: 4000)) + masked(0x80, Array(repeating: 0x62, count: 200))),
    ]
}
