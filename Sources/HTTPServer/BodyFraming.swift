/// How the request body is delimited (RFC 9112 §6.3).
enum BodyFraming: Equatable {
    case none
    case length(Int)
    case chunked

    static func of(_ head: HTTPRequestHead) throws(HTTPParseError) -> BodyFraming {
        let te = head.headers.values("transfer-encoding")
        let cl = head.headers.values("content-length")
        if !te.isEmpty {
            // CL + TE together is the classic smuggling setup: refuse, do not pick one.
            guard cl.isEmpty else { throw .contentLengthWithTransferEncoding }
            guard head.version == .http1_1 else { throw .unsupportedTransferEncoding }
            let codings = te.flatMap { $0.split(separator: ",") }.map { $0.trimmedOWS().lowercased() }
            guard codings == ["chunked"] else { throw .unsupportedTransferEncoding }
            return .chunked
        }
        guard !cl.isEmpty else { return .none }
        var length: Int? = nil
        for field in cl {
            for part in field.split(separator: ",", omittingEmptySubsequences: false) {
                let digits = part.trimmedOWS()
                guard !digits.isEmpty, digits.utf8.count <= 15, digits.utf8.allSatisfy(HTTPGrammar.isDigit),
                      let value = Int(digits) else { throw .invalidContentLength }
                if let length, length != value { throw .conflictingContentLength }
                length = value
            }
        }
        return length.map { $0 == 0 ? .none : .length($0) } ?? .none
    }
}
