/// Incremental decoder of `Transfer-Encoding: chunked` (RFC 9112 §7.1).
///
///     chunked-body = *chunk last-chunk trailer-section CRLF
///     chunk        = chunk-size [ chunk-ext ] CRLF chunk-data CRLF
///     last-chunk   = 1*("0") [ chunk-ext ] CRLF
///
/// One explicit state per position in the grammar (as nginx's `ngx_http_parse_chunked`),
/// so input split anywhere, even one byte at a time, decodes identically. Trailer
/// fields are read and discarded (we act on none of them).
struct ChunkedDecoder {
    enum State: Equatable {
        case size            // reading hex digits
        case sizeWhitespace  // BWS after the size, before ';' or CR
        case extension_      // inside chunk-ext, until CR
        case sizeLF          // after CR of the size line
        case data(remaining: Int)
        case dataCR
        case dataLF
        case trailerLineStart
        case trailerLine
        case trailerLF
        case finalLF
        case done
    }

    private(set) var state: State = .size
    private var size = 0
    private var digits = 0
    private var trailerBytes = 0
    private var extensionBytes = 0
    let maxBodyBytes: Int
    let maxTrailerBytes: Int
    /// Chunk extensions of the whole body, together (we act on none; without a cap a
    /// client could send unbounded bytes for a one-byte body).
    let maxExtensionBytes: Int

    init(maxBodyBytes: Int, maxTrailerBytes: Int = 16 * 1024, maxExtensionBytes: Int = 4096) {
        self.maxBodyBytes = maxBodyBytes
        self.maxTrailerBytes = maxTrailerBytes
        self.maxExtensionBytes = maxExtensionBytes
    }

    var isDone: Bool { state == .done }

    /// Consumes bytes from `input`, appending chunk data to `body`. Returns how many bytes
    /// were consumed; stops right after the final CRLF so pipelined bytes stay unread.
    mutating func feed(_ input: UnsafeBufferPointer<UInt8>, into body: inout [UInt8]) throws(HTTPParseError) -> Int {
        let cr = UInt8(ascii: "\r"), lf = UInt8(ascii: "\n")
        var i = 0
        while i < input.count && state != .done {
            let b = input[i]
            switch state {
            case .size:
                if let v = URLEncoding.hexValue(b) {
                    digits += 1
                    // 15 hex digits already exceed any body limit; more could overflow Int.
                    guard digits <= 15 else { throw .invalidChunkSize }
                    size = size << 4 | Int(v)
                } else {
                    guard digits > 0 else { throw .invalidChunkSize }
                    switch b {
                    case cr: state = .sizeLF
                    case UInt8(ascii: ";"): state = .extension_
                    case 0x20, 0x09: state = .sizeWhitespace
                    default: throw .invalidChunkSize
                    }
                }
            case .sizeWhitespace:
                switch b {
                case 0x20, 0x09: break
                case UInt8(ascii: ";"): state = .extension_
                case cr: state = .sizeLF
                default: throw .invalidChunkSize
                }
            case .extension_:
                if b == cr { state = .sizeLF } else if b == lf || b == 0 { throw .invalidChunkFraming }
                extensionBytes += 1
                guard extensionBytes <= maxExtensionBytes else { throw .chunkExtensionsTooLong }
            case .sizeLF:
                guard b == lf else { throw .invalidChunkFraming }
                if size == 0 {
                    state = .trailerLineStart
                } else {
                    guard size <= maxBodyBytes - body.count else { throw .bodyTooLarge }
                    state = .data(remaining: size)
                }
                size = 0
                digits = 0
            case .data(let remaining):
                let n = min(remaining, input.count - i)
                body.append(contentsOf: UnsafeBufferPointer(rebasing: input[i..<(i + n)]))
                i += n
                state = remaining == n ? .dataCR : .data(remaining: remaining - n)
                continue
            case .dataCR:
                guard b == cr else { throw .invalidChunkFraming }
                state = .dataLF
            case .dataLF:
                guard b == lf else { throw .invalidChunkFraming }
                state = .size
            case .trailerLineStart:
                if b == cr { state = .finalLF } else if b == lf { throw .invalidChunkFraming } else { state = .trailerLine }
            case .trailerLine:
                if b == cr { state = .trailerLF } else if b == lf { throw .invalidChunkFraming }
            case .trailerLF:
                guard b == lf else { throw .invalidChunkFraming }
                state = .trailerLineStart
            case .finalLF:
                guard b == lf else { throw .invalidChunkFraming }
                state = .done
            case .done:
                break
            }
            if case .trailerLine = state {
                trailerBytes += 1
                guard trailerBytes <= maxTrailerBytes else { throw .headerTooLarge }
            }
            i += 1
        }
        return i
    }
}
