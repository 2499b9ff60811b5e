// libFuzzer harness: Transfer-Encoding: chunked decoder (ChunkedDecoder.feed).
//
// Compiled by fuzz/run into module HTTPServer, so internal API is visible.
// The first input byte picks the body limit; the rest is the chunked stream.
//
// Invariants checked (beyond "does not trap"):
//  - feed never consumes more than it was given; decoded output <= consumed input and
//    <= the body limit;
//  - once done, the consumed bytes end in CRLF and further input is not consumed;
//  - the stream fed whole, in two pieces (split point taken from the input) and, for short
//    inputs, one byte at a time gives the same body, the same consumed count, the same
//    done state and the same error;
//  - a decoded body re-encoded as chunks decodes back to itself.

struct FuzzChunkedResult: Equatable {
    var body: [UInt8]
    var consumed: Int
    var done: Bool
    var error: HTTPParseError?
}

func fuzzChunked(_ input: UnsafeBufferPointer<UInt8>, limit: Int, cuts: [Int]) -> FuzzChunkedResult {
    var decoder = ChunkedDecoder(maxBodyBytes: limit, maxTrailerBytes: 256)
    var body: [UInt8] = []
    var at = 0
    for cut in cuts + [input.count] where cut > at {
        do throws(HTTPParseError) {
            let piece = UnsafeBufferPointer(rebasing: input[at..<cut])
            let before = body.count
            let used = try decoder.feed(piece, into: &body)
            precondition(used >= 0 && used <= piece.count, "consumed \(used) of \(piece.count)")
            precondition(body.count - before <= used, "output grew more than input consumed")
            at += used
            if decoder.isDone {
                var again = body
                let extra = try decoder.feed(piece, into: &again)
                precondition(extra == 0 && again == body, "consumed after done")
                break
            }
            precondition(used == piece.count, "stopped early without being done")
        } catch {
            // How far a failing feed got is not reported (it threw), so consumed is not compared.
            return FuzzChunkedResult(body: body, consumed: -1, done: false, error: error)
        }
    }
    return FuzzChunkedResult(body: body, consumed: at, done: decoder.isDone, error: nil)
}

@_cdecl("LLVMFuzzerTestOneInput")
public func fuzzChunkedDecoder(_ data: UnsafePointer<UInt8>, _ size: Int) -> CInt {
    guard size >= 1 else { return 0 }
    let limits = [0, 1, 16, 255, 4096, 1 << 20]
    let limit = limits[Int(data[0]) % limits.count]
    let input = UnsafeBufferPointer(start: data + 1, count: size - 1)

    let whole = fuzzChunked(input, limit: limit, cuts: [])
    precondition(whole.consumed <= input.count, "consumed more than given")
    precondition(whole.body.count <= input.count && whole.body.count <= limit, "output larger than input/limit")
    if whole.error == nil { precondition(whole.body.count <= whole.consumed, "output larger than consumed input") }
    if whole.done {
        precondition(whole.consumed >= 5 && input[whole.consumed - 2] == 0x0D && input[whole.consumed - 1] == 0x0A,
                     "done without a final CRLF")
        // Re-encode as one chunk (or none) and decode again: same body.
        var encoded: [UInt8] = []
        if !whole.body.isEmpty {
            encoded += Array(String(whole.body.count, radix: 16).utf8) + [0x0D, 0x0A] + whole.body + [0x0D, 0x0A]
        }
        encoded += Array("0\r\n\r\n".utf8)
        let again = encoded.withUnsafeBufferPointer { fuzzChunked($0, limit: limit, cuts: []) }
        precondition(again.done && again.body == whole.body && again.consumed == encoded.count, "re-encoded body differs")
    }

    if input.count > 1 {
        let cut = Int(data[0] >> 3) * 7 % input.count + 1
        let split = fuzzChunked(input, limit: limit, cuts: [cut])
        precondition(split == whole, "split at \(cut) differs")
    }
    if input.count <= 400 {
        let bytewise = fuzzChunked(input, limit: limit, cuts: Array(0..<input.count))
        precondition(bytewise == whole, "byte-at-a-time differs")
    }
    return 0
}
