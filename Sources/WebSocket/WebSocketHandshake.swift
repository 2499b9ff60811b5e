import HTTPServer

/// The server side of the opening handshake (RFC 6455 §4.2).
public enum WebSocketHandshake {
    static let guid = "258EAFA5-E914-47DA-95CA-C5AB0DC85B11"

    /// `Sec-WebSocket-Accept` for a client key: base64(SHA-1(key + GUID)).
    public static func acceptKey(for key: String) -> String {
        Base64.encode(SHA1.hash(Array((key + guid).utf8)))
    }

    /// Validates an upgrade request; on success returns the accept key, otherwise the
    /// error response to send instead (426 for a missing upgrade or another version,
    /// 400 for a malformed one).
    public enum Outcome: Sendable {
        case accept(key: String)
        case reject(HTTPResponse)
    }

    public static func validate(_ head: HTTPRequestHead) -> Outcome {
        guard head.method == .GET, head.version == .http1_1 else {
            return .reject(.error(.badRequest, code: "bad_handshake", message: "a WebSocket upgrade is an HTTP/1.1 GET"))
        }
        guard head.headers.containsToken("upgrade", "websocket") else {
            return .reject(.error(.upgradeRequired, code: "upgrade_required", message: "this endpoint speaks WebSocket only",
                                   headers: [("Upgrade", "websocket"), ("Connection", "Upgrade")]))
        }
        guard head.headers.containsToken("connection", "upgrade") else {
            return .reject(.error(.badRequest, code: "bad_handshake", message: "Connection: Upgrade is required"))
        }
        guard head.headers["sec-websocket-version"]?.trimmedOWS() == "13" else {
            return .reject(.error(.upgradeRequired, code: "unsupported_websocket_version", message: "only WebSocket version 13 is supported",
                                   headers: [("Sec-WebSocket-Version", "13")]))
        }
        guard let key = head.headers["sec-websocket-key"]?.trimmedOWS(), Base64.decodedLength(key) == 16 else {
            return .reject(.error(.badRequest, code: "bad_handshake", message: "Sec-WebSocket-Key must be 16 bytes in base64"))
        }
        return .accept(key: acceptKey(for: key))
    }
}
