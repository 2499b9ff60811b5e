/// Serializes a response head and body into the connection's output buffer
/// (RFC 9112 §4, §6). Framing headers are the server's, never the handler's.
struct ResponseEncoder {
    var dateCache = HTTPDateCache()
    let gzipMinBytes: Int

    struct Context {
        var isHead: Bool
        var keepAlive: Bool
        var version: HTTPVersion
        var acceptsGzip: Bool
    }

    mutating func encode(_ response: HTTPResponse, _ ctx: Context, into out: inout [UInt8]) {
        var body = response.body
        var gzipped = false
        let bodyAllowed = response.status.code != 204 && response.status.code != 304 && response.status.code >= 200
        if bodyAllowed, ctx.acceptsGzip, body.count >= gzipMinBytes, response.header("content-encoding") == nil,
           let z = Gzip.compress(body), z.count < body.count {
            body = z
            gzipped = true
        }
        out.append(contentsOf: "HTTP/1.1 ".utf8)
        appendDecimal(response.status.code, to: &out)
        out.append(0x20)
        out.append(contentsOf: response.status.reason.utf8)
        out.append(contentsOf: "\r\nDate: ".utf8)
        out.append(contentsOf: dateCache.current())
        if bodyAllowed {
            if let ct = response.contentType, !body.isEmpty || ctx.isHead {
                out.append(contentsOf: "\r\nContent-Type: ".utf8)
                out.append(contentsOf: ct.utf8)
            }
            out.append(contentsOf: "\r\nContent-Length: ".utf8)
            appendDecimal(body.count, to: &out)
        }
        if gzipped { out.append(contentsOf: "\r\nContent-Encoding: gzip".utf8) }
        // Vary whenever the representation could have been compressed, so caches key on it.
        if bodyAllowed && response.body.count >= gzipMinBytes { out.append(contentsOf: "\r\nVary: Accept-Encoding".utf8) }
        if !ctx.keepAlive {
            out.append(contentsOf: "\r\nConnection: close".utf8)
        } else if ctx.version == .http1_0 {
            out.append(contentsOf: "\r\nConnection: keep-alive".utf8)
        }
        for (name, value) in response.headers {
            out.append(contentsOf: "\r\n".utf8)
            out.append(contentsOf: name.utf8)
            out.append(contentsOf: ": ".utf8)
            out.append(contentsOf: value.utf8)
        }
        out.append(contentsOf: "\r\n\r\n".utf8)
        if bodyAllowed && !ctx.isHead { out.append(contentsOf: body) }
    }

    private func appendDecimal(_ value: Int, to out: inout [UInt8]) {
        if value == 0 {
            out.append(UInt8(ascii: "0"))
            return
        }
        // Digits into a stack buffer, then in order: no temporary array per response.
        var digits: (UInt64, UInt64, UInt64) = (0, 0, 0)
        var v = value.magnitude
        var n = 0
        withUnsafeMutableBytes(of: &digits) { d in
            while v > 0 && n < d.count {
                d[n] = UInt8(ascii: "0") + UInt8(v % 10)
                v /= 10
                n += 1
            }
            for i in stride(from: n - 1, through: 0, by: -1) { out.append(d[i]) }
        }
    }
}
