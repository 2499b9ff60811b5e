import SyncEngine
import Testing

/// Bearer tokens: 32 random bytes with a recognisable prefix, stored only as their
/// SHA-256; the admin token compared in constant time; a token too long to be one is
/// not even hashed.
@Suite struct TokensTests {
    @Test func newTokensHaveTheirPrefixAnd32RandomBytes() throws {
        let made = [try Tokens.newDeviceToken(), try Tokens.newAdminToken(), try Tokens.newSocketTicket()]
        for (token, prefix) in zip(made, ["ph_", "pha_", "pht_"]) {
            #expect(token.hasPrefix(prefix), "\(token)")
            #expect(Base64URL.decode(String(token.dropFirst(prefix.count)))?.count == 32, "\(token)")
        }
        let many = try (0..<100).map { _ in try Tokens.newDeviceToken() }
        #expect(Set(many).count == 100)
        #expect(try Tokens.randomBytes(0) == [])
    }

    @Test func theStoredFormIsTheSHA256() {
        #expect(Tokens.hash("abc") == SHA256.hash(Array("abc".utf8)))
        #expect(SyncEngine.tokenHash("abc") == Tokens.hash("abc"))
        #expect(SyncEngine.tokenHash(String(repeating: "t", count: 256)) != nil)
        #expect(SyncEngine.tokenHash(String(repeating: "t", count: 257)) == nil)
    }

    @Test func constantTimeEquals() {
        let a: [UInt8] = Array("pha_secret".utf8)
        #expect(Tokens.constantTimeEquals(a, a))
        #expect(!Tokens.constantTimeEquals(a, Array("pha_secreT".utf8)))
        #expect(!Tokens.constantTimeEquals(a, Array("Pha_secret".utf8)))
        #expect(!Tokens.constantTimeEquals(a, Array("pha_secre".utf8)))
        #expect(!Tokens.constantTimeEquals(a, []))
        #expect(Tokens.constantTimeEquals([], []))
    }
}
