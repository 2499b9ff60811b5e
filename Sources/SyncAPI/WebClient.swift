import HTTPServer
import SyncEngine

/// The web client (top-level `web/`, embedded at build time by EmbedWebClientPlugin):
/// `GET /` is `index.html`, `GET /app/{file}` the other files. Off with
/// `--no-web-client` (`APIConfiguration.webClient`), then both paths are plain 404s.
///
/// Every answer carries a strict Content-Security-Policy (no inline script or style,
/// connections only to this origin), `X-Content-Type-Options: nosniff`, no framing and
/// no referrer. Files are revalidated (`Cache-Control: no-cache`) with a strong ETag
/// (a hash of the bytes), so a new binary's client is picked up at once and an
/// unchanged one costs a `304`. Bodies are gzip-compressed by the server like JSON.
struct WebClient: Sendable {
    struct File: Sendable {
        let body: [UInt8]
        let contentType: String
        let etag: String
    }

    static let shared = WebClient(files: EmbeddedWebClient.files)

    static let contentSecurityPolicy = "default-src 'none'; script-src 'self'; style-src 'self'; img-src 'self' data:; "
        + "connect-src 'self'; manifest-src 'self'; base-uri 'none'; form-action 'none'; frame-ancestors 'none'"

    static let securityHeaders: [(name: String, value: String)] = [
        ("Content-Security-Policy", contentSecurityPolicy),
        ("X-Content-Type-Options", "nosniff"),
        ("X-Frame-Options", "DENY"),
        ("Referrer-Policy", "no-referrer"),
    ]

    static let notModified = HTTPStatus(304, "Not Modified")

    let files: [String: File]

    init(files: [(name: String, text: String)]) {
        var map: [String: File] = [:]
        for (name, text) in files {
            let body = Array(text.utf8)
            map[name] = File(body: body, contentType: Self.contentType(name), etag: "\"" + String(SHA256.hex(body).prefix(16)) + "\"")
        }
        self.files = map
    }

    /// The answer for a request under `/` or `/app/` (a file, or the error to answer
    /// with: 404 `not_found`, 405 `method_not_allowed`), with its metrics label; nil for
    /// every other path (the API's router handles those).
    func respond(to head: HTTPRequestHead) -> (response: Result<HTTPResponse, APIError>, label: String)? {
        let name: String
        let label: String
        if head.path == "/" {
            (name, label) = ("index.html", "/")
        } else if head.path.hasPrefix("/app/") {
            (name, label) = (String(head.path.dropFirst(5)), "/app/{file}")
        } else {
            return nil
        }
        switch head.method {
        case .GET, .HEAD: break
        case .OPTIONS: return (.success(HTTPResponse(status: .noContent, headers: [("Allow", "GET, HEAD, OPTIONS")])), label)
        default: return (.failure(.methodNotAllowed(head.method, allow: [.GET, .HEAD, .OPTIONS])), label)
        }
        // Only flat names of embedded files: no directories, no percent tricks.
        guard let file = files[name], name != "index.html" || label == "/" else {
            return (.failure(.notFound), label)
        }
        var headers = Self.securityHeaders
        headers.append(("Cache-Control", "no-cache"))
        headers.append(("ETag", file.etag))
        if let match = head.headers["if-none-match"], Self.matches(match, file.etag) {
            return (.success(HTTPResponse(status: Self.notModified, headers: headers, contentType: nil)), label)
        }
        return (.success(HTTPResponse(status: .ok, headers: headers, body: file.body, contentType: file.contentType)), label)
    }

    /// `If-None-Match` (RFC 9110 §13.1.2): `*` or a list of entity tags, weak comparison.
    static func matches(_ header: String, _ etag: String) -> Bool {
        for part in header.split(separator: ",") {
            var tag = Substring(part.trimmedOWS())
            if tag == "*" { return true }
            if tag.hasPrefix("W/") { tag = tag.dropFirst(2) }
            if tag == etag { return true }
        }
        return false
    }

    static func contentType(_ name: String) -> String {
        if name.hasSuffix(".html") { return "text/html; charset=utf-8" }
        if name.hasSuffix(".css") { return "text/css; charset=utf-8" }
        if name.hasSuffix(".js") || name.hasSuffix(".mjs") { return "text/javascript; charset=utf-8" }
        if name.hasSuffix(".svg") { return "image/svg+xml" }
        return "text/plain; charset=utf-8"
    }
}
