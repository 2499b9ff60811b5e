import HTTPServer
import Testing
@testable import SyncAPI

/// The web client: `GET /` and `/app/{file}` from the files embedded at build time.
@Suite(.timeLimit(.minutes(3)))
struct WebClientTests {
    static let csp = "default-src 'none'; script-src 'self'"

    func expectSecurityHeaders(_ r: HTTPTestResponse, sourceLocation: SourceLocation = #_sourceLocation) {
        let csp = r.header("Content-Security-Policy") ?? ""
        #expect(csp.hasPrefix(Self.csp), "CSP \(csp)", sourceLocation: sourceLocation)
        #expect(!csp.contains("unsafe-inline") && !csp.contains("unsafe-eval"), sourceLocation: sourceLocation)
        #expect(r.header("X-Content-Type-Options") == "nosniff", sourceLocation: sourceLocation)
        #expect(r.header("Referrer-Policy") == "no-referrer", sourceLocation: sourceLocation)
    }

    @Test func indexAndAssetsWithTypesAndCaching() throws {
        try TestServer.with { server in
            let c = try server.connect()
            let index = try c.get("/")
            #expect(index.status == 200)
            #expect(index.header("Content-Type") == "text/html; charset=utf-8")
            #expect(index.header("Cache-Control") == "no-cache")
            #expect(index.text.contains("<script type=\"module\" src=\"/app/app.js\"></script>"))
            // No inline script: every <script> has a src (the CSP would block it anyway).
            #expect(!index.text.contains("<script>") && !index.text.contains("<script type=\"module\">"))
            expectSecurityHeaders(index)

            let types = ["app.js": "text/javascript; charset=utf-8", "pigeonhole-client.js": "text/javascript; charset=utf-8",
                         "app.css": "text/css; charset=utf-8"]
            for (name, type) in types {
                let r = try c.get("/app/\(name)")
                #expect(r.status == 200, "\(name)")
                #expect(r.header("Content-Type") == type, "\(name)")
                #expect(r.header("Cache-Control") == "no-cache")
                expectSecurityHeaders(r)
                let etag = try #require(r.header("ETag"))
                #expect(etag.hasPrefix("\"") && etag.hasSuffix("\"") && etag.count == 18)
                // Revalidation: the same ETag is a 304 with no body; another is the file again.
                let again = try c.request("GET", "/app/\(name)", headers: [("If-None-Match", etag)])
                #expect(again.status == 304)
                #expect(again.body.isEmpty)
                #expect(again.header("ETag") == etag)
                let other = try c.request("GET", "/app/\(name)", headers: [("If-None-Match", "\"0000000000000000\"")])
                #expect(other.status == 200 && other.body == r.body)
                // HEAD: same headers, no body.
                let head = try c.head("/app/\(name)")
                #expect(head.status == 200 && head.body.isEmpty && head.header("ETag") == etag)
            }
            // The client never renders bodies as HTML.
            let app = try c.get("/app/app.js").text
            #expect(!app.contains("innerHTML") && !app.contains("insertAdjacentHTML") && !app.contains("outerHTML"))
        }
    }

    @Test func gzipLikeJSON() throws {
        try TestServer.with { server in
            let c = try server.connect()
            let plain = try c.get("/app/pigeonhole-client.js")
            let z = try c.request("GET", "/app/pigeonhole-client.js", headers: [("Accept-Encoding", "gzip")])
            #expect(z.status == 200)
            #expect(z.header("Content-Encoding") == "gzip")
            #expect(z.header("Vary") == "Accept-Encoding")
            #expect(z.body.count < plain.body.count)
            #expect(Gzip.decompress(z.body) == plain.body)
        }
    }

    @Test func unknownAssetsAndMethods() throws {
        try TestServer.with { server in
            let c = try server.connect()
            expectError(try c.get("/app/nope.js"), 404, "not_found")
            expectError(try c.get("/app/"), 404, "not_found")
            expectError(try c.get("/app/index.html"), 404, "not_found")   // only at /
            expectError(try c.get("/app/..%2Fopenapi.yaml"), 404, "not_found")
            expectError(try c.get("/app/test/client.test.mjs"), 404, "not_found")   // tests are not embedded
            expectError(try c.get("/index.html"), 404, "not_found")
            let post = try c.post("/", raw: "{}")
            expectError(post, 405, "method_not_allowed")
            #expect(post.header("Allow") == "GET, HEAD, OPTIONS")
            let options = try c.request("OPTIONS", "/app/app.js")
            #expect(options.status == 204 && options.header("Allow") == "GET, HEAD, OPTIONS")
            // The API is unaffected.
            expectError(try c.get("/v1/me"), 401, "unauthorized")
        }
    }

    @Test func noWebClient() throws {
        try TestServer.with(configure: { $0.api.webClient = false }) { server in
            let c = try server.connect()
            expectError(try c.get("/"), 404, "not_found")
            expectError(try c.get("/app/app.js"), 404, "not_found")
            #expect(try c.get("/healthz").status == 200)
        }
    }

    @Test func ifNoneMatchLists() {
        #expect(WebClient.matches("\"a\", \"b\"", "\"b\""))
        #expect(WebClient.matches("W/\"b\"", "\"b\""))
        #expect(WebClient.matches("*", "\"b\""))
        #expect(!WebClient.matches("\"a\"", "\"b\""))
        #expect(!WebClient.matches("", "\"b\""))
    }
}
