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
        let lines = String(decoding: input[0..<end], as: UTF8.self).split(separator: "\r\n", omittingEmptySubsequences: false)
        let statusParts = lines[0].split(separator: " ", maxSplits: 2)
        guard statusParts.count >= 2, statusParts[0].hasPrefix("HTTP/1."), let status = Int(statusParts[1]) else {
            return fail(.malformed("status line"))
        }
        var headers: [(name: String, value: String)] = []
        for line in lines.dropFirst() {
            guard let colon = line.firstIndex(of: ":") else { return fail(.malformed("header line")) }
            headers.append((line[..<colon].lowercased(), String(line[line.index(after: colon)...].drop { $0 == " " })))
        }
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
}
