import Testing
@testable import LoadTester

/// The contract's merge rule (docs/message-changes.md): a tombstone is final, else the
/// higher `version` wins, and of equal versions the incoming copy is kept.
@Suite struct MessageMergeTests {
    static func state(_ version: Int64, body: String? = nil, deleted: Bool = false, edits: Int64 = 0,
                      reactions: [MessageState.Reaction] = []) -> MessageState {
        MessageState(version: version, deleted: deleted, body: deleted ? nil : Array("\"\(body ?? "v\(version)")\"".utf8),
                     editCount: edits, edited: edits > 0, reactions: reactions)
    }

    static func merged(_ copies: [MessageState]) -> MessageState? {
        copies.reduce(nil) { MessageState.merge(held: $0, incoming: $1) }
    }

    @Test func theHighestVersionWinsInAnyOrder() {
        let copies = [Self.state(0), Self.state(1, edits: 1), Self.state(3, edits: 2), Self.state(2, edits: 2)]
        for order in [[0, 1, 2, 3], [3, 2, 1, 0], [2, 0, 3, 1], [1, 2, 2, 0, 3, 3]] {
            #expect(Self.merged(order.map { copies[$0] }) == copies[2], "\(order)")
        }
    }

    @Test func aTombstoneIsFinal() {
        let tombstone = Self.state(2, deleted: true)
        // Even a copy with a higher version does not bring the text back.
        #expect(Self.merged([Self.state(0), tombstone, Self.state(5, edits: 3)]) == tombstone)
        #expect(Self.merged([Self.state(5, edits: 3), tombstone]) == tombstone)
        #expect(Self.merged([tombstone, Self.state(0)]) == tombstone)
    }

    @Test func ofEqualVersionsTheIncomingIsKept() {
        let held = Self.state(4, reactions: [.init(key: "ok", count: 1, me: true)])
        let incoming = Self.state(4, reactions: [.init(key: "ok", count: 1, me: false)])
        #expect(MessageState.merge(held: held, incoming: incoming) == incoming)
        #expect(MessageState.merge(held: nil, incoming: held) == held)
    }

    @Test func differencesAreWhatEveryViewerMustSeeAlike() {
        let a = Self.state(2, edits: 1, reactions: [.init(key: "ok", count: 2, me: true)])
        // `me` and the version are the viewer's and the copy's: not a difference.
        #expect(a.difference(from: Self.state(3, body: "v2", edits: 1, reactions: [.init(key: "ok", count: 2, me: false)])) == nil)
        #expect(a.difference(from: Self.state(2, body: "other", edits: 1, reactions: a.reactions)) == #"body "v2" vs "other""#)
        #expect(a.difference(from: Self.state(2, edits: 2, reactions: a.reactions)) == "edit_count 1 vs 2")
        #expect(a.difference(from: Self.state(2, edits: 1)) == "reactions ok:2 vs none")
        #expect(a.difference(from: Self.state(3, deleted: true)) == "not recalled, a tombstone there")
        // The same body spaced differently is the same body.
        var spaced = a
        spaced.body = Array(#" "v2" "#.utf8)
        #expect(a.difference(from: spaced) == nil)
    }
}

/// Every device must end with the server's state of every message it received.
@Suite struct ConvergenceVerifierTests {
    static let room: Int64 = 7
    static func copy(_ kind: SyncPageScanner.Copy.Kind, seq: Int64, of message: Int64 = 3, _ state: MessageState) -> SyncPageScanner.Copy {
        .init(kind: kind, room: room, seq: seq, messageSeq: message, id: 100 + message, state: state)
    }

    // Message 3: sent (v0), edited at seq 4 (v1), reacted to at seq 5 (v2, coalesced).
    static let sent = MessageMergeTests.state(0)
    static let edited = MessageMergeTests.state(1, body: "new", edits: 1)
    static func reacted(me: Bool) -> MessageState {
        MessageMergeTests.state(2, body: "new", edits: 1, reactions: [.init(key: "ok", count: 1, me: me)])
    }
    static let server = [Convergence.Key(room: room, seq: 3): reacted(me: false)]

    static func device(_ name: String, user: Int = 1, _ copies: [SyncPageScanner.Copy]) -> Convergence.DeviceStates {
        var d = Convergence.DeviceStates(name: name, user: user)
        for c in copies { d.apply(c, rooms: [room]) }
        return d
    }

    static func verify(_ devices: [Convergence.DeviceStates], server: [Convergence.Key: MessageState] = server,
                       own: Convergence.OwnReactions? = nil) -> [String] {
        Convergence.verify(devices: devices, server: server, serverRooms: Set(server.keys.map(\.room)), own: own).violations
    }

    @Test func replaysAndOutOfOrderCopiesConverge() {
        let inOrder = Self.device("u1/0", [Self.copy(.message, seq: 3, Self.sent), Self.copy(.edit, seq: 4, Self.edited),
                                           Self.copy(.reactions, seq: 5, Self.reacted(me: true))])
        // A device that pulled late gets the message already changed, then the older
        // change events (each carrying the state as read), some twice.
        let late = Self.device("u2/0", user: 2, [Self.copy(.message, seq: 3, Self.reacted(me: false)), Self.copy(.edit, seq: 4, Self.edited),
                                                 Self.copy(.edit, seq: 4, Self.edited), Self.copy(.reactions, seq: 5, Self.reacted(me: false))])
        let result = Convergence.verify(devices: [inOrder, late], server: Self.server, serverRooms: [Self.room], own: nil)
        #expect(result.violations == [])
        #expect(result.compared == 2)
        #expect(inOrder.newestSeq == [Self.room: 5] && late.newestSeq == [Self.room: 5])
    }

    @Test func aDeviceThatMissedAnEditIsAViolation() {
        let missed = Self.device("u1/0", [Self.copy(.message, seq: 3, Self.sent)])
        #expect(Self.verify([missed]) == [#"device u1/0 room 7: message state differs at seqs 3 from the server's (seq 3: body "v0" vs "new")"#])
        let noReaction = Self.device("u1/0", [Self.copy(.message, seq: 3, Self.sent), Self.copy(.edit, seq: 4, Self.edited)])
        #expect(Self.verify([noReaction]) == ["device u1/0 room 7: message state differs at seqs 3 from the server's (seq 3: reactions none vs ok:1)"])
    }

    @Test func aMissedRecallAndATombstoneWithItsTextAreViolations() {
        let tombstone = MessageMergeTests.state(3, deleted: true)
        let server = [Convergence.Key(room: Self.room, seq: 3): tombstone]
        let missed = Self.device("u1/0", [Self.copy(.message, seq: 3, Self.sent), Self.copy(.edit, seq: 4, Self.edited)])
        #expect(Self.verify([missed], server: server) == ["device u1/0 room 7: message state differs at seqs 3 from the server's (seq 3: not recalled, a tombstone there)"])
        var leaky = tombstone
        leaky.body = Array(#""secret""#.utf8)
        leaky.tombstoneExtras = ["body"]
        let got = Self.device("u1/0", [Self.copy(.message, seq: 3, Self.sent), Self.copy(.delete, seq: 6, leaky)])
        #expect(Self.verify([got], server: server) == ["device u1/0 room 7: tombstones that carry a body or edit fields: seqs 3 (seq 3: body)"])
        #expect(Self.verify([], server: [Convergence.Key(room: Self.room, seq: 3): leaky])
                == ["server history room 7: tombstones that carry a body or edit fields: seqs 3"])
    }

    @Test func withoutTheServersStateDevicesAreComparedWithEachOther() {
        let a = Self.device("u1/0", [Self.copy(.message, seq: 3, Self.edited)])
        let b = Self.device("u2/0", [Self.copy(.message, seq: 3, Self.sent)])
        #expect(Self.verify([a, b], server: [:]) == [#"device u2/0 room 7: message state differs at seqs 3 from device u1/0's (seq 3: body "v0" vs "new")"#])
        // The server's history read, but without the message: reported too.
        #expect(Convergence.verify(devices: [a], server: [:], serverRooms: [Self.room], own: nil).violations
                == ["device u1/0 room 7: messages the server's history does not have: seqs 3"])
    }

    @Test func meMustBeTheDevicesOwnUsersReactions() {
        let key = Convergence.Key(room: Self.room, seq: 3)
        let reacted = Self.device("u1/0", user: 1, [Self.copy(.reactions, seq: 5, Self.reacted(me: true))])
        let other = Self.device("u2/0", user: 2, [Self.copy(.reactions, seq: 5, Self.reacted(me: false))])
        var own = Convergence.OwnReactions()
        own.made[1] = [key: ["ok"]]
        #expect(Self.verify([reacted, other], own: own) == [])
        // User 2 reacted too as far as its answers say, but its device shows no `me`.
        own.made[2] = [key: ["ok"]]
        #expect(Self.verify([reacted, other], own: own) == [#"device u2/0 room 7: reactions' me wrong at seqs 3 (seq 3: me on [], the user's reactions ["ok"])"#])
        // An unknown outcome (a timeout) leaves the flag unchecked.
        own.uncertain[2] = [key]
        #expect(Self.verify([reacted, other], own: own) == [])
    }

    @Test func changesFromAForeignRoomAreReported() {
        var d = Convergence.DeviceStates(name: "u1/0", user: 1)
        d.apply(.init(kind: .edit, room: 9, seq: 4, messageSeq: 3, id: 1, state: Self.edited), rooms: [Self.room])
        #expect(d.states.isEmpty)
        #expect(Self.verify([d]) == ["device u1/0 room 9: changes from a room it is not in: seqs 4"])
    }
}
