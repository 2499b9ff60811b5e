import MutationSupport
import SyncEngine
import Testing

/// base64url without padding (RFC 4648 §5), the text form of every token and cursor:
/// the RFC's test vectors, the URL alphabet, one spelling per value (padding, the
/// standard alphabet, impossible lengths and set leftover bits are all refused).
@Suite struct Base64URLTests {
    @Test(arguments: [
        ("", ""), ("f", "Zg"), ("fo", "Zm8"), ("foo", "Zm9v"), ("foob", "Zm9vYg"), ("fooba", "Zm9vYmE"), ("foobar", "Zm9vYmFy"),
    ])
    func rfc4648Vectors(_ plain: String, _ encoded: String) {
        #expect(Base64URL.encode(Array(plain.utf8)) == encoded)
        #expect(Base64URL.decode(encoded) == Array(plain.utf8))
    }

    @Test func theURLAlphabet() {
        #expect(Base64URL.encode([0xFB, 0xFF]) == "-_8")   // standard base64: "+/8="
        #expect(Base64URL.encode([0xF8, 0x00, 0x3F]) == "-AA_")
        #expect(Base64URL.decode("-_8") == [0xFB, 0xFF])
    }

    @Test(arguments: [
        "Zg==", "Zg=", "=", "+/8", "Zm9v+", "Z", "Zm9vY", "Zh", "Zm9", "Zm8 ", " Zm8", "Zm\n8", "Zé",
    ])
    func secondSpellingsAndNonsenseAreRefused(_ text: String) {
        #expect(Base64URL.decode(text) == nil)
    }

    @Test func everyLengthRoundTrips() {
        var rng = SeededRandom(seed: 0xB64)
        for n in 0..<200 {
            let bytes = rng.bytes(n)
            let text = Base64URL.encode(bytes)
            #expect(text.utf8.count == (n * 4 + 2) / 3, "length \(n)")
            #expect(Base64URL.decode(text) == bytes, "length \(n)")
        }
    }
}
