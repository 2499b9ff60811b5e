import JSON

/// One HTTP response as the test client saw it on the wire.
struct HTTPTestResponse {
    var status: Int
    var headers: [(name: String, value: String)]
    var body: [UInt8]

    /// The first value of a header (names compared case-insensitively).
    func header(_ name: String) -> String? {
        let lower = name.lowercased()
        return headers.first { $0.name.lowercased() == lower }?.value
    }

    var text: String { String(decoding: body, as: UTF8.self) }

    /// The body parsed with our own JSON module; `.null` when it is empty or not JSON
    /// (so a wrong shape shows up as a failed expectation, not a crash).
    var json: JSONValue { (try? JSONParser.parse(body)) ?? .null }

    /// `error.code` of an error body (`{"error":{"code":...,"message":...}}`).
    var errorCode: String? { json["error"]?["code"]?.stringValue }
}

extension JSONValue {
    /// Array element access for test readability (`nil` out of range or not an array).
    subscript(index: Int) -> JSONValue? {
        guard let a = arrayValue, a.indices.contains(index) else { return nil }
        return a[index]
    }

    var array: [JSONValue] { arrayValue ?? [] }
}
