import Foundation
import HTTPServer
import JSON
@testable import SyncEngine
@testable import SyncAPI
import Testing
import Logging

/// The one error mapping, without sockets: every code with its status and the one JSON
/// shape `{"error":{"code":..,"message":..}}`, the headers each code promises, domain
/// errors to codes, and an error nobody expected as 500 `internal` with a log line.
@Suite struct ErrorMappingTests {
    /// One error per way the API can fail; together they reach every `ErrorCode`.
    static let examples: [(APIError, ErrorCode)] = [
        (.notFound, .notFound),
        (.methodNotAllowed(.PUT, allow: [.GET, .HEAD, .OPTIONS]), .methodNotAllowed),
        (.malformedQuery, .malformedQuery),
        (.malformedPath, .malformedPath),
        (.badID(what: "room id"), .invalidRequest),
        (.invalidRequest("a device token in a URL is refused"), .invalidRequest),
        (.invalidJSON("body must be a JSON object"), .invalidJSON),
        (.unsupportedMediaType, .unsupportedMediaType),
        (.unauthorized, .unauthorized),
        (.adminUnauthorized, .unauthorized),
        (.rateLimited(ms: 1500, what: "messages from this device"), .rateLimited),
        (.healthCheckFailed, .storageUnavailable),
        (.unexpected(detail: "a state the code rules out"), .internal),
    ] + domainExamples.map { (.domain($0.0), $0.1) }

    /// Every `SyncError` case.
    static let domainExamples: [(SyncError, ErrorCode)] = [
        (.invalid(field: "name", reason: "is required"), .invalidRequest),
        (.userNotFound("bob"), .userNotFound),
        (.userExists("bob"), .userExists),
        (.deviceNotFound, .deviceNotFound),
        (.roomNotFound, .roomNotFound),
        (.notMember, .notMember),
        (.roomLimit(user: "bob", limit: 500), .roomLimit),
        (.forbidden("only the owner may remove members"), .forbidden),
        (.invalidCursor("cursor does not parse"), .invalidCursor),
        (.cursorRequired, .cursorRequired),
        (.cursorExpired, .cursorExpired),
        (.idempotencyConflict, .idempotencyConflict),
        (.bodyTooLarge(limit: 16384), .payloadTooLarge),
        (.seqOutOfRange(lastSeq: 9), .seqOutOfRange),
        (.storageUnavailable, .storageUnavailable),
        (.randomUnavailable, .unavailable),
        (.shuttingDown, .shuttingDown),
        (.rateLimited(retryAfterMillis: 1500, what: "messages from this device"), .rateLimited),
        (.unexpected("the fan-out wrote 3 rows for 4 members"), .internal),
        (.messageNotFound, .messageNotFound),
        (.notSender("only its sender edits a message"), .notSender),
        (.editWindowClosed(windowMillis: 86_400_000), .editWindowClosed),
        (.recallWindowClosed(windowMillis: 86_400_000), .recallWindowClosed),
        (.messageDeleted, .messageDeleted),
        (.reactionLimit(20), .reactionLimit),
    ]

    @Test func theExamplesReachEveryCode() {
        #expect(Set(Self.examples.map(\.1)) == Set(ErrorCode.allCases))
    }

    @Test func eachCodeHasItsStatusAndTheOneShape() throws {
        for (error, code) in Self.examples {
            let r = APIError.response(for: error, log: .silent)
            #expect(r.status == code.status, "\(error)")
            #expect(r.contentType == HTTPResponse.jsonContentType)
            let body = try JSONParser.parse(r.body)
            #expect(body["error"]?["code"]?.stringValue == code.rawValue, "\(error)")
            #expect(body["error"]?["message"]?.stringValue?.isEmpty == false, "\(error)")
            // Nothing else, except rate_limited's retry_after_ms.
            guard case .object(let top) = body, case .object(let inner)? = body["error"] else {
                Issue.record("not an object: \(error)")
                continue
            }
            #expect(top.map { $0.0 } == ["error"])
            #expect(inner.map { $0.0 } == (code == .rateLimited ? ["code", "message", "retry_after_ms"] : ["code", "message"]))
        }
    }

    @Test func domainErrorsMapAsTheirAPIWrapper() {
        for (error, code) in Self.domainExamples {
            let r = APIError.response(for: error, log: .silent)
            #expect(r.status == code.status)
            #expect(r.body == APIError.domain(error).response.body)
        }
    }

    @Test func theHeadersEachCodePromises() {
        func header(_ e: APIError, _ name: String) -> String? { APIError.response(for: e, log: .silent).header(name) }
        #expect(header(.unauthorized, "WWW-Authenticate") == "Bearer")
        #expect(header(.adminUnauthorized, "WWW-Authenticate") == "Bearer")
        #expect(header(.methodNotAllowed(.PUT, allow: [.GET, .HEAD, .OPTIONS]), "Allow") == "GET, HEAD, OPTIONS")
        // Retry-After is whole seconds, rounded up, at least 1; the exact wait is in the body.
        #expect(header(.rateLimited(ms: 1500, what: "x"), "Retry-After") == "2")
        #expect(header(.rateLimited(ms: 3, what: "x"), "Retry-After") == "1")
        let limited = APIError.response(for: APIError.rateLimited(ms: 1500, what: "x"), log: .silent)
        #expect((try? JSONParser.parse(limited.body))?["error"]?["retry_after_ms"]?.int64Value == 1500)
        for e in [SyncError.storageUnavailable, .shuttingDown, .randomUnavailable] {
            #expect(header(.domain(e), "Retry-After") == "1")
        }
        // /healthz's 503 has none (a load balancer polls on its own schedule); nor does a 500.
        #expect(header(.healthCheckFailed, "Retry-After") == nil)
        #expect(header(.unexpected(detail: "x"), "Retry-After") == nil)
    }

    @Test func theFirstScreenOf410() throws {
        let page = ConversationPage(conversations: [], nextPage: nil, cursor: Cursor(user: UserID(1), inboxSeq: 4))
        let r = APIError.response(for: APIError.cursorExpired(firstScreen: page), log: .silent)
        #expect(r.status == .gone)
        let body = try JSONParser.parse(r.body)
        #expect(body["error"]?["code"]?.stringValue == "cursor_expired")
        #expect(body["first_screen"]?["cursor"]?.stringValue == page.cursor.encoded)
    }

    /// A Swift error of a type nobody handles: 500 `internal`, one log line with the
    /// error, and a message that tells the client nothing of it.
    @Test func anUnexpectedErrorIs500InternalAndALogLine() throws {
        struct DiskPlatterOnFire: Error, CustomStringConvertible {
            var description: String { "/var/lib/pigeonhole/pigeonhole.sqlite: platter 3 on fire" }
        }
        let (response, logged) = try Self.capturingLog { log in APIError.response(for: DiskPlatterOnFire(), log: log) }
        #expect(response.status == .internalServerError)
        let body = try JSONParser.parse(response.body)
        #expect(body["error"]?["code"]?.stringValue == "internal")
        let message = try #require(body["error"]?["message"]?.stringValue)
        #expect(!message.contains("platter") && !message.contains("DiskPlatterOnFire") && !message.contains("/var/lib"))
        #expect(logged.contains("level=error"), "\(logged)")
        #expect(logged.contains("unexpected error"))
        #expect(logged.contains("platter 3 on fire"), "the log line names the error")

        // Known errors are answered without a log line; a ruled-out state is logged too.
        let (_, quiet) = try Self.capturingLog { APIError.response(for: SyncError.storageUnavailable, log: $0) }
        #expect(quiet.isEmpty)
        let (_, ruledOut) = try Self.capturingLog { APIError.response(for: APIError.unexpected(detail: "head was nil"), log: $0) }
        #expect(ruledOut.contains("head was nil"))
        // A store's error that is not the database being away (a bug) is one of these too.
        let (fromStore, storeLog) = try Self.capturingLog {
            APIError.response(for: SyncError.unexpected("SQLite error 2067: UNIQUE constraint failed: users.name"), log: $0)
        }
        #expect(fromStore.status == .internalServerError)
        #expect(!String(decoding: fromStore.body, as: UTF8.self).contains("UNIQUE"))
        #expect(storeLog.contains("UNIQUE constraint failed"))
    }

    @Test func theCodesAreTheContracts() throws {
        let doc = try OpenAPIDocument.load()
        // The transport's and the WebSocket handshake's codes are answered below the API.
        let transport: Set<String> = ["malformed_request", "request_timeout", "header_too_large", "expectation_failed",
                                      "unsupported_transfer_encoding", "too_many_connections", "http_version_not_supported",
                                      "bad_handshake", "upgrade_required", "unsupported_websocket_version"]
        let ours = Set(ErrorCode.allCases.map(\.rawValue))
        #expect(ours.isDisjoint(with: transport))
        #expect(doc.errorCodes == ours.union(transport), "openapi.yaml's Error code enum")
        let table = doc.errorTable
        for code in ErrorCode.allCases {
            #expect(table[code.rawValue] == code.status.code, "\(code.rawValue) in the Errors table of openapi.yaml")
        }
    }

    /// Runs `body` with a logger writing into a pipe; returns what it logged.
    static func capturingLog<T>(_ body: (Logger) -> T) throws -> (T, String) {
        var fds: [Int32] = [0, 0]
        guard pipe(&fds) == 0 else { throw TestFailure("pipe: errno \(errno)") }
        defer { close(fds[0]) }
        let value = body(Logger(level: .info, fd: fds[1]))
        close(fds[1])
        var out: [UInt8] = []
        var buffer = [UInt8](repeating: 0, count: 4096)
        while true {
            let n = read(fds[0], &buffer, buffer.count)
            if n <= 0 { break }
            out += buffer[0..<n]
        }
        return (value, String(decoding: out, as: UTF8.self))
    }
}
