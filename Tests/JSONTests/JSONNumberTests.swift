@testable import JSON
import Testing

/// Numbers (RFC 8259 §6): the grammar exactly, the source text kept verbatim (so `1.10`
/// or a 64-bit id round-trips byte for byte), and only values a double can hold: a
/// number past it would break the strict parsers of the clients it is relayed to.
@Suite struct JSONNumberTests {
    @Test(arguments: [
        "0", "-0", "7", "-7", "10", "1.10", "0.5", "-0.0", "1e5", "1E5", "1e+5", "1E-5", "-2.5e+3", "0e0",
        "9223372036854775807", "-9223372036854775808", "12345678901234567890123",
        "1.7976931348623157e308", "-1.7976931348623157e308", "5e-324",
        "1e-400",   // below the smallest double: rounds to 0, which is finite, so kept verbatim
        String(repeating: "9", count: 256),
    ])
    func acceptedVerbatim(_ text: String) throws {
        let value = try JSONParser.parse(text)
        #expect(value == .number(text))
        #expect(value.serializedString == text)
    }

    /// (input, reason, offset)
    @Test(arguments: [
        ("01", JSONError.Reason.invalidNumber, 1),     // leading zeros
        ("00", .invalidNumber, 1),
        ("-01", .invalidNumber, 2),
        ("0123", .invalidNumber, 1),
        ("[007]", .invalidNumber, 2),
        ("-", .invalidNumber, 1),
        ("-a", .invalidNumber, 1),
        ("1.", .invalidNumber, 2),
        ("1.e5", .invalidNumber, 2),
        ("1e", .invalidNumber, 2),
        ("1e+", .invalidNumber, 3),
        ("1e-x", .invalidNumber, 3),
        ("-Infinity", .invalidNumber, 1),
        (".5", .unexpectedByte, 0),
        ("+1", .unexpectedByte, 0),
        ("NaN", .unexpectedByte, 0),
        ("Infinity", .unexpectedByte, 0),
        ("0x10", .trailingData, 1),
        ("1_000", .trailingData, 1),
        (String(repeating: "9", count: 257), .invalidNumber, 0),   // over 256 characters
        ("[1, " + String(repeating: "1", count: 200) + "." + String(repeating: "0", count: 60) + "]", .invalidNumber, 4),
        // Past a double: refused where the number starts.
        ("1e309", .numberOutOfRange, 0),
        ("1.8e308", .numberOutOfRange, 0),
        ("[-1e309]", .numberOutOfRange, 1),
        (#"{"n":1e999999}"#, .numberOutOfRange, 5),
        ("1e99999999999999999999", .numberOutOfRange, 0),
    ] as [(String, JSONError.Reason, Int)])
    func refused(_ text: String, _ reason: JSONError.Reason, _ offset: Int) {
        #expect(throws: JSONError(reason: reason, offset: offset), "\(text.prefix(40))") { try JSONParser.parse(text) }
    }

    /// Integers read back only when they are integers in range: no fraction, no exponent.
    @Test(arguments: [
        ("0", Int64(0)),
        ("-0", 0),
        ("42", 42),
        ("9223372036854775807", .max),
        ("-9223372036854775808", .min),
        ("9223372036854775808", nil),
        ("-9223372036854775809", nil),
        ("1.0", nil),
        ("1e2", nil),
        ("0.5", nil),
    ] as [(String, Int64?)])
    func int64Value(_ text: String, _ expected: Int64?) throws {
        #expect(try JSONParser.parse(text).int64Value == expected)
    }

    @Test func nonNumbersHaveNoIntegerValue() throws {
        #expect(try JSONParser.parse(#""42""#).int64Value == nil)
        #expect(try JSONParser.parse("true").intValue == nil)
        #expect(JSONValue.int(Int64.min) == .number("-9223372036854775808"))
        #expect(JSONValue.int(UInt8(200)).intValue == 200)
    }
}
