/// Parsing the answer of whatever listens on the webhook's address (RFC 9112 §4, §6).
///
///     status-line = HTTP-version SP 3DIGIT SP [ reason-phrase ] CRLF
///     *( field-line CRLF ) CRLF [ message-body ]
///
/// Everything here is hostile input: no arithmetic on a number we have not bounded,
/// no index we have not checked. A response we cannot act on is a thrown
/// `malformedResponse` with the reason (the push dispatcher records it as the
/// attempt's `last_error`), never a trap.
extension HTTPClient {
    /// The response in `data`, nil while it is incomplete (and `eof` is false).
    ///
    /// - Interim `1xx` responses are skipped.
    /// - A `Content-Length` body is read in full (at most `maxResponseBytes`).
    /// - With `Transfer-Encoding` the status is the answer and the body is not read
    ///   (`body` is empty): the caller needs only the status.
    /// - With neither, the body runs to the end of the connection (we send
    ///   `Connection: close`), cut at `maxResponseBytes`.
    static func parseResponse(_ data: [UInt8], eof: Bool = false) throws(ClientError) -> Response? {
        var start = 0
        while true {
            guard let headEnd = headEnd(data, from: start) else {
                if data.count - start > maxResponseBytes { throw .malformedResponse("response head over 1 MiB") }
                if eof { throw .malformedResponse(data.count == start ? "empty response" : "response head not terminated") }
                return nil
            }
            let head = try parseHead(data[start..<headEnd])
            let bodyStart = headEnd + 4
            if (100..<200).contains(head.status) && head.status != 101 {
                start = bodyStart   // interim response: the final one follows
                continue
            }
            if head.chunked { return Response(status: head.status, body: []) }
            if let length = head.contentLength {
                guard data.count - bodyStart >= length else {
                    if eof { throw .malformedResponse("body shorter than its Content-Length") }
                    return nil
                }
                return Response(status: head.status, body: Array(data[bodyStart..<(bodyStart + length)]))
            }
            let available = data.count - bodyStart
            guard eof || available >= maxResponseBytes else { return nil }
            return Response(status: head.status, body: Array(data[bodyStart..<(bodyStart + min(available, maxResponseBytes))]))
        }
    }

    struct ResponseHead: Equatable {
        var status: Int
        var contentLength: Int?
        var chunked: Bool
    }

    /// Index of the CRLFCRLF that ends the head starting at `from`.
    private static func headEnd(_ data: [UInt8], from: Int) -> Int? {
        var i = from
        while i + 3 < data.count {
            if data[i] == 13 && data[i + 1] == 10 && data[i + 2] == 13 && data[i + 3] == 10 { return i }
            i += 1
        }
        return nil
    }

    static func parseHead(_ bytes: ArraySlice<UInt8>) throws(ClientError) -> ResponseHead {
        let (status, fields) = try headFields(bytes)
        var head = ResponseHead(status: status, contentLength: nil, chunked: false)
        for (name, value) in fields {
            switch name {
            case "content-length":
                let length = try parseContentLength(value)
                if let seen = head.contentLength, seen != length { throw .malformedResponse("conflicting Content-Length") }
                head.contentLength = length
            case "transfer-encoding":
                head.chunked = true
            default:
                break
            }
        }
        return head
    }

    /// A head's status and its field lines, names lowercased and values without their
    /// surrounding whitespace; shared with `ClientConnection` (the load generator reads a
    /// head per response: bytes, never `String.split` over characters).
    static func headFields(_ bytes: ArraySlice<UInt8>) throws(ClientError) -> (status: Int, fields: [(name: String, value: ArraySlice<UInt8>)]) {
        var lines: [ArraySlice<UInt8>] = []
        var lineStart = bytes.startIndex
        var i = bytes.startIndex
        while i < bytes.endIndex {
            if bytes[i] == 13 {
                guard i + 1 < bytes.endIndex, bytes[i + 1] == 10 else { throw .malformedResponse("bare CR in the head") }
                lines.append(bytes[lineStart..<i])
                i += 2
                lineStart = i
            } else if bytes[i] == 10 {
                throw .malformedResponse("bare LF in the head")
            } else {
                i += 1
            }
        }
        lines.append(bytes[lineStart..<bytes.endIndex])
        let status = try parseStatusLine(lines[0])
        var fields: [(name: String, value: ArraySlice<UInt8>)] = []
        fields.reserveCapacity(lines.count - 1)
        for line in lines.dropFirst() {
            guard let colon = line.firstIndex(of: UInt8(ascii: ":")), colon > line.startIndex,
                  line[line.startIndex..<colon].allSatisfy(isTokenByte) else {
                throw .malformedResponse("bad header line")
            }
            let name = line[line.startIndex..<colon].map { $0 >= 65 && $0 <= 90 ? $0 + 32 : $0 }
            fields.append((String(decoding: name, as: UTF8.self), trimOWS(line[(colon + 1)...])))
        }
        return (status, fields)
    }

    /// `HTTP/1.x SP 3DIGIT [SP reason]`.
    private static func parseStatusLine(_ line: ArraySlice<UInt8>) throws(ClientError) -> Int {
        let b = Array(line)
        let prefix = Array("HTTP/1.".utf8)
        guard b.count >= 12, Array(b[0..<7]) == prefix, isDigit(b[7]), b[8] == 32,
              isDigit(b[9]), isDigit(b[10]), isDigit(b[11]), b.count == 12 || b[12] == 32 else {
            throw .malformedResponse("bad status line")
        }
        let status = Int(b[9] - 48) * 100 + Int(b[10] - 48) * 10 + Int(b[11] - 48)
        guard status >= 100 else { throw .malformedResponse("bad status code") }
        return status
    }

    /// `1*DIGIT`, bounded before any arithmetic (no sign, no overflow).
    private static func parseContentLength(_ value: ArraySlice<UInt8>) throws(ClientError) -> Int {
        guard !value.isEmpty, value.count <= 8, value.allSatisfy(isDigit) else {
            throw .malformedResponse("bad Content-Length")
        }
        let n = value.reduce(0) { $0 * 10 + Int($1 - 48) }
        guard n <= maxResponseBytes else { throw .malformedResponse("Content-Length over 1 MiB") }
        return n
    }

    private static func isDigit(_ b: UInt8) -> Bool { b >= 48 && b <= 57 }

    /// RFC 9110 §5.6.2 tchar.
    private static func isTokenByte(_ b: UInt8) -> Bool {
        switch b {
        case 48...57, 65...90, 97...122: return true
        default: return Array("!#$%&'*+-.^_`|~".utf8).contains(b)
        }
    }

    private static func trimOWS(_ s: ArraySlice<UInt8>) -> ArraySlice<UInt8> {
        var lo = s.startIndex, hi = s.endIndex
        while lo < hi && (s[lo] == 32 || s[lo] == 9) { lo += 1 }
        while hi > lo && (s[hi - 1] == 32 || s[hi - 1] == 9) { hi -= 1 }
        return s[lo..<hi]
    }
}
