/// Responses: the head and a Content-Length body, read as they arrive (RFC 9112 §4, §6).
extension ClientConnection {
    public struct Response: Sendable {
        public let status: Int
        /// Header names lowercased, in arrival order.
        public let headers: [(name: String, value: String)]
        public let body: [UInt8]

        public func header(_ name: String) -> String? { headers.first { $0.name == name }?.value }
    }

    func readResponse() {
        let from = max(0, scanned - 3)
        guard pending != nil, input.count >= 4, from <= input.count - 4 else { return }
        var end = -1
        for i in from...(input.count - 4)
        where input[i] == 13 && input[i + 1] == 10 && input[i + 2] == 13 && input[i + 3] == 10 {
            end = i
            break
        }
        guard end >= 0 else { scanned = input.count; return }
        let head: (status: Int, headers: [(name: String, value: String)])
        switch Self.parseHead(input[0..<end]) {
        case .success(let h): head = h
        case .failure(let f): return fail(f)
        }
        let (status, headers) = head
        let noBody = pendingIsHead || status == 101 || status == 204 || status == 304 || status < 200
        var length = 0
        if !noBody {
            if headers.contains(where: { $0.name == "transfer-encoding" }) { return fail(.malformed("chunked body")) }
            guard let cl = headers.first(where: { $0.name == "content-length" }), let n = Int(cl.value), n >= 0 else {
                return fail(.malformed("no Content-Length"))
            }
            length = n
        }
        guard input.count >= end + 4 + length else { return }
        let body = Array(input[(end + 4)..<(end + 4 + length)])
        input.removeFirst(end + 4 + length)
        scanned = 0
        let closeAfter = headers.contains { $0.name == "connection" && $0.value.lowercased().contains("close") }
        let done = pending!
        pending = nil
        if let t = timer { loop.cancel(t); timer = nil }
        if closeAfter && status != 101 { teardown() }
        done(.success(Response(status: status, headers: headers, body: body)))
    }

    /// The status and headers of a head (without its final CRLF CRLF), by the webhook
    /// client's parser (`HTTPClient.headFields`): bytes, as strict.
    static func parseHead(_ bytes: ArraySlice<UInt8>) -> Result<(status: Int, headers: [(name: String, value: String)]), Failure> {
        do {
            let (status, fields) = try HTTPClient.headFields(bytes)
            return .success((status, fields.map { ($0.name, String(decoding: $0.value, as: UTF8.self)) }))
        } catch {
            guard case .malformedResponse(let why) = error else { return .failure(.malformed("head")) }
            return .failure(.malformed(why))
        }
    }
}
