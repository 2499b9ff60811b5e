import JSON
import Testing
@testable import LoadTester

/// The load tester's sync-page reader must see exactly what the full parser sees, and
/// refuse what the full parser refuses: otherwise the verifier could pass a broken page.
@Suite struct SyncPageScannerTests {
    static let page = #"""
        {"events":[
          {"type":"member","room_id":3,"action":"joined","user":"a\"b"},
          {"type":"message","room_id":3,"message":{"id":41,"room_id":3,"seq":7,"sender":"al\u00e9","sender_device_id":null,
            "client_msg_id":"x-1","body":{"n":[1,2.5e3,-0.5,true,false,null],"s":"\\ \/ \n"},"sent_at":"2026-11-23T07:57:48.123Z"}},
          {"type":"receipts","room_id":3,"counts":[{"seq":7,"read_count":1}]},
          {"message":{"seq":8,"room_id":3,"id":42},"type":"message"}
        ],"cursor":"djEuMS4w","has_more":true}
        """#

    /// What the full parser says, in the scanner's terms.
    static func reference(_ body: [UInt8]) -> SyncPageScanner.Page? {
        guard let j = try? JSONParser.parse(body), let cursor = j["cursor"]?.stringValue else { return nil }
        var p = SyncPageScanner.Page()
        p.cursor = cursor
        p.hasMore = j["has_more"]?.boolValue ?? false
        for e in j["events"]?.arrayValue ?? [] {
            p.eventCount += 1
            guard e["type"]?.stringValue == "message", let m = e["message"], let room = m["room_id"]?.int64Value,
                  let seq = m["seq"]?.int64Value, let id = m["id"]?.int64Value else { continue }
            p.messages.append((room, seq, id))
        }
        return p
    }

    @Test func readsWhatTheParserReads() throws {
        let body = Array(Self.page.utf8)
        let scanned = try #require(SyncPageScanner.scan(body))
        #expect(scanned == Self.reference(body))
        #expect(scanned.messages.map(\.seq) == [7, 8] && scanned.eventCount == 4 && scanned.hasMore)
        #expect(SyncPageScanner.scan(Array(#"{"events":[],"cursor":"c"}"#.utf8)) == Self.reference(Array(#"{"events":[],"cursor":"c"}"#.utf8)))
    }

    @Test(arguments: [
        #"{"events":[],"cursor":"c""#,            // unterminated
        #"{"events":[],"cursor":"c"} x"#,         // trailing data
        #"{"events":[,],"cursor":"c"}"#,          // empty element
        #"{"events":[{"type":"message","message":{"id":01,"room_id":1,"seq":1}}],"cursor":"c"}"#,   // leading zero
        #"{"events":[],"cursor":"c","x":tru}"#,   // bad literal
        #"{"events":[],"cursor":"c","x":"\q"}"#,  // bad escape
        #"{"events":[],"cursor":"c","x":1.}"#,    // bad number
        "{\"events\":[],\"cursor\":\"c\",\"x\":\"\u{01}\"}",   // raw control character
        #"{"events":[]}"#,                        // no cursor
        #"[1,2]"#,
    ])
    func refusesWhatIsNotASyncPage(_ text: String) {
        #expect(SyncPageScanner.scan(Array(text.utf8)) == nil)
    }

    /// Every prefix of a valid page is refused, and no prefix crashes.
    @Test func everyTruncationIsRefused() {
        let body = Array(Self.page.utf8)
        for n in 0..<body.count where SyncPageScanner.scan(Array(body[0..<n])) != nil {
            Issue.record("prefix of \(n) bytes accepted")
        }
    }
}
