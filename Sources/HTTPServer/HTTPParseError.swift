/// Everything that can be wrong with a request's bytes. Each case maps to one status
/// and one stable error code; all of them close the connection, because after a
/// framing error the position of the next request is unknowable (RFC 9112 §11.2:
/// answering and continuing is how request smuggling happens).
public enum HTTPParseError: Error, Equatable, Sendable {
    case headerTooLarge
    case tooManyHeaders
    case malformedRequestLine
    case invalidTarget
    case unsupportedVersion
    case malformedHeader
    case obsoleteLineFolding
    case bareLineFeed
    case missingHost
    /// A field that must appear at most once (`Authorization`, `Sec-WebSocket-Key`) came
    /// twice: which one a proxy or the server reads would be a guess.
    case repeatedField
    case invalidContentLength
    case conflictingContentLength
    case contentLengthWithTransferEncoding
    case unsupportedTransferEncoding
    case invalidChunkSize
    case invalidChunkFraming
    case chunkExtensionsTooLong
    case bodyTooLarge
    case unsupportedExpectation

    public var status: HTTPStatus {
        switch self {
        case .headerTooLarge, .tooManyHeaders: return .headerFieldsTooLarge
        case .unsupportedVersion: return .httpVersionNotSupported
        case .unsupportedTransferEncoding: return .notImplemented
        case .bodyTooLarge: return .payloadTooLarge
        case .unsupportedExpectation: return .expectationFailed
        default: return .badRequest
        }
    }

    public var code: String {
        switch self {
        case .headerTooLarge, .tooManyHeaders: return "header_too_large"
        case .unsupportedVersion: return "http_version_not_supported"
        case .unsupportedTransferEncoding: return "unsupported_transfer_encoding"
        case .bodyTooLarge: return "payload_too_large"
        case .unsupportedExpectation: return "expectation_failed"
        default: return "malformed_request"
        }
    }

    public var message: String {
        switch self {
        case .headerTooLarge: return "request header block too large"
        case .tooManyHeaders: return "too many header fields"
        case .malformedRequestLine: return "malformed request line"
        case .invalidTarget: return "invalid request target"
        case .unsupportedVersion: return "only HTTP/1.0 and HTTP/1.1 are supported"
        case .malformedHeader: return "malformed header field"
        case .obsoleteLineFolding: return "obsolete line folding is not allowed"
        case .bareLineFeed: return "lines must end with CRLF"
        case .missingHost: return "HTTP/1.1 requests need exactly one Host header"
        case .repeatedField: return "Authorization and Sec-WebSocket-Key may appear at most once"
        case .invalidContentLength: return "invalid Content-Length"
        case .conflictingContentLength: return "conflicting Content-Length values"
        case .contentLengthWithTransferEncoding: return "Content-Length and Transfer-Encoding together are not allowed"
        case .unsupportedTransferEncoding: return "only Transfer-Encoding: chunked is supported"
        case .invalidChunkSize: return "invalid chunk size"
        case .invalidChunkFraming: return "invalid chunked framing"
        case .chunkExtensionsTooLong: return "chunk extensions longer than 4096 bytes in all"
        case .bodyTooLarge: return "request body too large"
        case .unsupportedExpectation: return "only Expect: 100-continue is supported"
        }
    }
}
