import SyncEngine
import Testing

/// The cursor's text form, case by case: every accepted text has one spelling, and
/// everything else is refused (the API turns that into 400 invalid_cursor).
@Suite struct CursorTextTests {
    static func text(_ plain: String) -> String { Base64URL.encode(Array(plain.utf8)) }

    @Test(arguments: [
        ("v1.1.0", Cursor(user: UserID(1), inboxSeq: 0)),
        ("v1.42.9223372036854775807", Cursor(user: UserID(42), inboxSeq: .max)),
        ("v2.7.5.3:4,70:0", Cursor(user: UserID(7), inboxSeq: 5, hot: [RoomID(3): 4, RoomID(70): 0])),
    ])
    func acceptedTextsRoundTrip(_ plain: String, _ cursor: Cursor) {
        #expect(Cursor.decode(Self.text(plain)) == cursor)
        #expect(cursor.encoded == Self.text(plain))
    }

    @Test(arguments: [
        "v1.01.0", "v1.0.5", "v1.1.5.", "v1.1.", "v1..1", "v1.1.00", "v1.1.-1", "v1.1.+1",
        "v1.1.9223372036854775808", "v3.1.1", "v2.1.5", "v2.1.5.", "v2.1.5.3:4,", "v2.1.5.7:0,3:4",
        "v2.1.5.3:4,3:5", "v2.1.5.0:1", "v2.1.5.3", "v2.1.5.3:", "v1.1.5x", "V1.1.5", "",
    ])
    func everythingElseIsRefused(_ plain: String) {
        #expect(Cursor.decode(Self.text(plain)) == nil)
    }
}
