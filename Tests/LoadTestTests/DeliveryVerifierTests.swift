import Testing
@testable import LoadTester

/// The load test's verdicts, on hand-made logs: a verifier that cannot fail would
/// make every green load-test run meaningless.
@Suite struct DeliveryVerifierTests {
    static let room: Int64 = 7
    /// Seqs 1...5 acknowledged in room 7 (message id = 100 + seq).
    static let sent = (1...5).map { Delivery.Record(room: room, seq: Int64($0), id: 100 + Int64($0), at: 1) }

    func device(_ seqs: [Int64], room: Int64 = room, complete: Bool = true) -> Delivery.DeviceLog {
        Delivery.DeviceLog(name: "u1/0", rooms: [Self.room],
                           received: seqs.map { Delivery.Record(room: room, seq: $0, id: 100 + $0, at: 2) },
                           complete: complete, note: complete ? nil : "gave up")
    }

    @Test func aCompleteOrderedLogPasses() {
        #expect(Delivery.verify(sent: Self.sent, devices: [device([1, 2, 3, 4, 5])]).isEmpty)
        // A seq that was committed but never acknowledged (its 201 was lost) is allowed.
        #expect(Delivery.verify(sent: Self.sent, devices: [device([1, 2, 3, 4, 5, 6])]).isEmpty)
    }

    @Test func aMissingMessageIsReportedWithItsSeq() {
        let v = Delivery.verify(sent: Self.sent, devices: [device([1, 2, 4, 5])])
        #expect(v == ["device u1/0 room 7: missing 1 acknowledged: seqs 3"])
    }

    @Test func aDuplicateIsReported() {
        let v = Delivery.verify(sent: Self.sent, devices: [device([1, 2, 3, 3, 4, 5])])
        #expect(v == ["device u1/0 room 7: duplicates: seqs 3"])
    }

    @Test func aReorderIsReported() {
        let v = Delivery.verify(sent: Self.sent, devices: [device([1, 3, 2, 4, 5])])
        #expect(v == ["device u1/0 room 7: out of order: 2 after 3"])
    }

    @Test func foreignRoomsWrongIDsAndUnfinishedDevicesAreReported() {
        var log = device([1, 2, 3, 4, 5])
        log.received.append(Delivery.Record(room: 8, seq: 1, id: 999, at: 2))
        log.received[0] = Delivery.Record(room: Self.room, seq: 1, id: 555, at: 2)
        let v = Delivery.verify(sent: Self.sent, devices: [log, device([1, 2, 3, 4, 5], complete: false)])
        #expect(v.contains("device u1/0 room 8: messages from a room it is not in: seqs 1"))
        #expect(v.contains("device u1/0 room 7: wrong message id at seqs 1"))
        #expect(v.contains("device u1/0: incomplete (gave up)"))
        #expect(v.count == 3)
    }

    @Test func rangesAreCompact() {
        #expect(Delivery.ranges([9, 3, 4, 5, 7, 12, 13]) == "3-5,7,9,12-13")
    }
}

/// The first-screen check: unread = last_seq - read_seq, with read_seq where the user's
/// own sends and read markers put it.
@Suite struct UnreadVerifierTests {
    static let sent = (1...10).map { Delivery.Record(room: 7, seq: Int64($0), id: Int64($0), at: 1) }

    func check(_ rows: [Delivery.ConversationRow], own: Int64 = 4, read: Int64 = 6, exact: Bool = true) -> [String] {
        Delivery.verifyUnread(user: "u1", rows: rows, rooms: [7], acked: Self.sent, ownSends: [7: own], readMarks: [7: read], exact: exact)
    }

    @Test func agreeingCountsPass() {
        #expect(check([.init(room: 7, unread: 4, readSeq: 6, lastSeq: 10)]).isEmpty)
        #expect(check([.init(room: 7, unread: 2, readSeq: 8, lastSeq: 10)], own: 8, read: 3).isEmpty)
    }

    @Test func aWrongCountIsReported() {
        let v = check([.init(room: 7, unread: 5, readSeq: 6, lastSeq: 10)])
        #expect(v == ["user u1 room 7: unread 5 but last_seq 10 - read_seq 6 = 4"])
    }

    @Test func aReadMarkerThatDidNotStickIsReported() {
        let v = check([.init(room: 7, unread: 6, readSeq: 4, lastSeq: 10)])
        #expect(v == ["user u1 room 7: read_seq 4, but own sends and read markers reached 6 (unread 6, expected 4)"])
    }

    @Test func missingAndDuplicatedRoomsAreReported() {
        #expect(check([]) == ["user u1 room 7: missing from the first screen"])
        let row = Delivery.ConversationRow(room: 7, unread: 4, readSeq: 6, lastSeq: 10)
        #expect(check([row, row]) == ["user u1 room 7: listed twice on the first screen"])
    }

    /// With changes (`--changes`), which take room seqs of their own, unread is the
    /// number of messages received above read_seq, and last_seq the newest event.
    @Test func withChangesUnreadCountsMessagesNotSeqs() {
        // Messages at 1, 2, 4, 6 and 8; changes at 3, 5, 7 and 9.
        let acked = [1, 2, 4, 6, 8].map { Delivery.Record(room: 7, seq: Int64($0), id: Int64($0), at: 1) }
        let received = Delivery.Received(messages: [7: [1, 2, 4, 6, 8]], newest: [7: 9])
        func check(_ row: Delivery.ConversationRow, _ received: Delivery.Received? = received) -> [String] {
            Delivery.verifyUnread(user: "u1", rows: [row], rooms: [7], acked: acked, ownSends: [7: 2], readMarks: [7: 4],
                                  exact: true, received: received)
        }
        #expect(check(.init(room: 7, unread: 2, readSeq: 4, lastSeq: 9)).isEmpty)
        #expect(check(.init(room: 7, unread: 5, readSeq: 4, lastSeq: 9))
                == ["user u1 room 7: unread 5 but its devices received 2 messages above read_seq 4"])
        #expect(check(.init(room: 7, unread: 2, readSeq: 4, lastSeq: 8))
                == ["user u1 room 7: last_seq 8, but the newest acknowledged send or received event is 9"])
        // The old rule would call the right count wrong: it is kept only without changes.
        #expect(check(.init(room: 7, unread: 2, readSeq: 4, lastSeq: 9), nil).count == 2)
    }

    @Test func withUnknownOutcomesTheServerMayBeAheadButNotBehind() {
        #expect(check([.init(room: 7, unread: 3, readSeq: 8, lastSeq: 11)], exact: false).isEmpty)
        #expect(check([.init(room: 7, unread: 3, readSeq: 8, lastSeq: 11)], exact: true).count == 2)
        #expect(check([.init(room: 7, unread: 4, readSeq: 5, lastSeq: 9)], exact: false).count == 2)
    }
}

/// Scenario plans: every send comes from a member of its room, and the rooms the
/// scenario promises exist.
@Suite struct LoadPlanTests {
    @Test(arguments: ["dm", "group:30", "hot:600", "mixed"])
    func everySendComesFromAMember(_ name: String) throws {
        let plan = LoadPlan(scenario: try #require(LoadPlan.Scenario(name)), users: 100, senders: 16, receivers: 10)
        var used = Set<Int>()
        for slot in 0..<16 {
            for n in 1...50 {
                let (room, user) = plan.pick(slot: slot, n: n)
                #expect(plan.rooms[room].contains(user))
                used.insert(room)
            }
        }
        #expect(used.count == plan.rooms.count)   // no room is left without traffic
        for (u, rooms) in plan.userRooms.enumerated() { for r in rooms { #expect(plan.rooms[r].contains(u)) } }
    }

    @Test func scenarioShapes() throws {
        let dm = LoadPlan(scenario: .dm, users: 200, senders: 64, receivers: nil)
        #expect(dm.rooms.count == 100 && dm.receivers.count == 200)
        #expect(LoadPlan(scenario: .dm, users: 200, senders: 64, receivers: 0).receivers.isEmpty)   // sends alone
        #expect(LoadPlan(scenario: .group(300), users: 2, senders: 64, receivers: nil).receivers == Array(0..<50))
        let hot = LoadPlan(scenario: .hot(10_000), users: 5, senders: 64, receivers: 50)
        #expect(hot.userCount == 10_000 && hot.rooms == [Array(0..<10_000)] && hot.receivers == Array(0..<50))
        let mixed = LoadPlan(scenario: .mixed, users: 200, senders: 64, receivers: nil)
        #expect(mixed.rooms.count == 100 + 10 + 1)
        #expect(mixed.userRooms.allSatisfy { $0.count == 3 })
        #expect(LoadPlan.Scenario("group:1") == nil && LoadPlan.Scenario("hot") == nil && LoadPlan.Scenario("mixed") == .mixed)
    }
}
