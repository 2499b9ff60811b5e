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

    /// Changes (docs/message-changes.md): an edit, a reaction, a recall, and a message
    /// event that already carries its changed state; escaped keys, keys in any order.
    static let changesPage = #"""
        {"cursor":"c2","events":[
          {"type":"message","room_id":3,"message":{"id":50,"room_id":3,"seq":9,"body":{"t":"a b","n":[1, 2]},"version":2,
            "edited_at":"2026-12-06T10:00:00Z","edit_count":1,"reactions":[{"key":"\ud83d\udc4d","count":2,"me":true}]}},
          {"type":"edit","room_id":3,"seq":10,"message":{"id":50,"room_id":3,"seq":9,"body":"new","edit_count":2,"version":3}},
          {"seq":11,"message":{"reactions":[{"me":false,"count":1,"key":"ok"},{"key":"🎉","count":3,"me":true}],"id":50,"seq":9,"room_id":3,"version":4,"body":"new","edit_count":2},"type":"reactions","room_id":3},
          {"type":"delete","room_id":3,"seq":12,"message":{"id":50,"room_id":3,"seq":9,"deleted":true,"deleted_at":"2026-12-06T10:00:01Z","version":5}},
          {"type":"delete","room_id":3,"seq":13,"message":{"id":51,"room_id":3,"seq":8,"deleted":true,"body":"leak","edit_count":1,"version":1}},
          {"type":"read","room_id":3,"seq":8}
        ]}
        """#

    /// The state the full parser sees in a message object.
    static func state(_ m: JSONValue) -> MessageState {
        var s = MessageState()
        var present: [String] = []
        if case .object(let members) = m {
            for (key, value) in members {
                switch key {
                case "body": s.body = value.serialized(); present.append(key)
                case "deleted": s.deleted = value.boolValue ?? false
                case "version": s.version = value.int64Value ?? -1
                case "edit_count": s.editCount = value.int64Value ?? -1; present.append(key)
                case "edited_at": s.edited = true; present.append(key)
                case "reactions":
                    s.reactions = (value.arrayValue ?? []).map {
                        MessageState.Reaction(key: $0["key"]?.stringValue ?? "?", count: $0["count"]?.int64Value ?? -1,
                                              me: $0["me"]?.boolValue ?? false)
                    }
                    present.append(key)
                default: break
                }
            }
        }
        if s.deleted { s.tombstoneExtras = present }
        return s
    }

    /// What the full parser says, in the scanner's terms.
    static func reference(_ body: [UInt8], keepStates: Bool = false) -> SyncPageScanner.Page? {
        guard let j = try? JSONParser.parse(body), let cursor = j["cursor"]?.stringValue else { return nil }
        var p = SyncPageScanner.Page()
        p.cursor = cursor
        p.hasMore = j["has_more"]?.boolValue ?? false
        for e in j["events"]?.arrayValue ?? [] {
            p.eventCount += 1
            guard let type = e["type"]?.stringValue, let kind = SyncPageScanner.Copy.Kind(rawValue: type), let m = e["message"],
                  let room = m["room_id"]?.int64Value, let seq = m["seq"]?.int64Value, let id = m["id"]?.int64Value else { continue }
            if kind == .message { p.messages.append((room, seq, id)) }
            if keepStates {
                p.copies.append(.init(kind: kind, room: e["room_id"]?.int64Value ?? room,
                                      seq: kind == .message ? seq : e["seq"]?.int64Value ?? seq, messageSeq: seq, id: id,
                                      state: state(m)))
            }
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

    /// The bodies as the full parser writes them back (the scanner keeps the server's bytes).
    static func normalized(_ p: SyncPageScanner.Page) -> SyncPageScanner.Page {
        var p = p
        p.copies = p.copies.map { c in
            var s = c.state
            s.body = s.body.map { (try? JSONParser.parse($0))?.serialized() ?? $0 }
            return .init(kind: c.kind, room: c.room, seq: c.seq, messageSeq: c.messageSeq, id: c.id, state: s)
        }
        return p
    }

    @Test func keepsTheStatesOfChangedMessages() throws {
        let body = Array(Self.changesPage.utf8)
        let scanned = try #require(SyncPageScanner.scan(body, keepStates: true))
        #expect(Self.normalized(scanned) == Self.reference(body, keepStates: true))
        #expect(scanned.messages.map(\.seq) == [9] && scanned.eventCount == 6)
        #expect(scanned.copies.map(\.kind) == [.message, .edit, .reactions, .delete, .delete])
        #expect(scanned.copies.map(\.seq) == [9, 10, 11, 12, 13] && scanned.copies.map(\.messageSeq) == [9, 9, 9, 9, 8])
        let first = scanned.copies[0].state
        #expect(first.body == Array(#"{"t":"a b","n":[1, 2]}"#.utf8))   // the server's own bytes
        #expect(first.version == 2 && first.editCount == 1 && first.edited && first.reactions == [.init(key: "👍", count: 2, me: true)])
        #expect(scanned.copies[2].state.counts == ["ok": 1, "🎉": 3])
        let tombstone = scanned.copies[3].state
        #expect(tombstone.deleted && tombstone.body == nil && tombstone.tombstoneExtras.isEmpty && tombstone.version == 5)
        // A tombstone that still carries the text says so.
        #expect(scanned.copies[4].state.tombstoneExtras == ["body", "edit_count"])
        // Without keepStates the page is what it always was: message events' ids only.
        let plain = try #require(SyncPageScanner.scan(body))
        #expect(plain.copies.isEmpty && plain.messages.map(\.id) == [50] && plain == Self.reference(body))
    }

    @Test func readsHistoryPages() throws {
        let body = Array(#"""
            {"messages":[{"id":1,"room_id":4,"seq":2,"body":"x","version":0},
                         {"id":2,"room_id":4,"seq":5,"deleted":true,"version":3}],"next_before":2}
            """#.utf8)
        let page = try #require(SyncPageScanner.scanHistory(body))
        #expect(page.nextBefore == 2 && page.messages.map(\.messageSeq) == [2, 5] && page.messages.map(\.room) == [4, 4])
        #expect(page.messages[0].state.body == Array(#""x""#.utf8) && page.messages[1].state.deleted)
        #expect(try #require(SyncPageScanner.scanHistory(Array(#"{"messages":[]}"#.utf8))).nextBefore == nil)
        for bad in [#"{"next_before":2}"#, #"{"messages":[{"id":1,"seq":2}]}"#, #"{"messages":[{"id":1,"room_id":4,"seq":2,"reactions":[{"key":"a"}]}]}"#] {
            #expect(SyncPageScanner.scanHistory(Array(bad.utf8)) == nil, "\(bad)")
        }
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
        for page in [Self.page, Self.changesPage] {
            let body = Array(page.utf8)
            for n in 0..<body.count where SyncPageScanner.scan(Array(body[0..<n]), keepStates: true) != nil {
                Issue.record("prefix of \(n) bytes accepted")
            }
        }
    }
}
