import Testing
@testable import LoadTester

/// Several nodes (issue 12): `--url` repeated or comma-separated (each value one entry
/// here; how the command line and PIGEONHOLE_URL give them is `CLITests`), and how the
/// plan spreads devices, senders and idle clients over the nodes.
@Suite struct LoadSpreadTests {
    static func urls(_ entries: [String]) throws -> [LoadTarget] { try LoadTarget.parse(entries) }

    @Test func repeatedAndCommaSeparatedURLsAreAllKeptInOrder() throws {
        let targets = try Self.urls(["http://127.0.0.1:8080", "http://10.0.0.2:81/x, http://localhost:82"])
        #expect(targets.map(\.url) == ["http://127.0.0.1:8080", "http://10.0.0.2:81/x", "http://localhost:82"])
        #expect(targets.map(\.host) == ["127.0.0.1", "10.0.0.2", "127.0.0.1"])
        #expect(targets.map(\.port) == [8080, 81, 82])
        // One URL, and none at all, are what they always were.
        #expect(try Self.urls(["http://127.0.0.1:9000"]) == [LoadTarget("http://127.0.0.1:9000")!])
        #expect(try Self.urls([]).map(\.url) == ["http://127.0.0.1:8080"])
        // The environment variable's one value may hold a list too.
        #expect(try Self.urls(["http://127.0.0.1:1,http://127.0.0.1:2"]).map(\.port) == [1, 2])
    }

    @Test(arguments: [
        "http://127.0.0.1:8080,ftp://127.0.0.1:21",
        "http://127.0.0.1:8080,http://127.0.0.1",
        "http://127.0.0.1:8080,http://127.0.0.1:0",
        "http://127.0.0.1:8080,http://127.0.0.1:99999",
        "http://127.0.0.1:8080,http://node-b:8080",   // the clients connect without DNS
        "http://127.0.0.1:8080,,http://127.0.0.1:8081",
    ])
    func aBadURLAmongSeveralIsNamed(_ list: String) {
        let bad = list.split(separator: ",", omittingEmptySubsequences: false)[1]
        #expect {
            try Self.urls([list])
        } throws: { error in
            (error as? LoadTestFailure)?.description.hasPrefix("--url '\(bad)' is not http://HOST:PORT") == true
        }
    }

    /// Device d of user u goes to node (d + u) mod n: one user's devices land on
    /// different nodes, and the nodes get equal shares.
    @Test func devicesOfOneUserLandOnDifferentNodes() {
        let plan = LoadPlan(scenario: .dm, users: 8, senders: 5, receivers: nil, nodes: 2)
        var perNode = [0, 0]
        for u in 0..<plan.userCount {
            #expect(plan.deviceNode(user: u, device: 0) != plan.deviceNode(user: u, device: 1))
            for d in 0..<2 { perNode[plan.deviceNode(user: u, device: d)] += 1 }
        }
        #expect(perNode == [8, 8])
        #expect((0..<8).map { plan.deviceNode(user: $0, device: 0) } == [0, 1, 0, 1, 0, 1, 0, 1])

        let three = LoadPlan(scenario: .group(6), users: 0, senders: 7, receivers: nil, nodes: 3)
        for u in 0..<6 { #expect(Set((0..<3).map { three.deviceNode(user: u, device: $0) }) == [0, 1, 2]) }
    }

    /// By default a send, or a device's read marker, goes to its room's node, whoever
    /// sends it (the example nginx config's routing), and the rooms are shared out;
    /// `--route spread` is round-robin by sender slot (a device's marker goes to its own
    /// node). Idle clients go round-robin either way.
    @Test func sendsGoToTheirRoomsNodeOrRoundRobin() {
        let plan = LoadPlan(scenario: .dm, users: 8, senders: 5, receivers: nil, nodes: 2)
        #expect(plan.route == .room)
        let rooms = Array(Int64(1)...100)
        for room in rooms { #expect(Set((0..<5).map { plan.sendNode(slot: $0, room: room) }).count == 1) }
        let share = rooms.filter { plan.sendNode(slot: 0, room: $0) == 0 }.count
        #expect((35...65).contains(share), "\(share) of 100 rooms on node 0")
        #expect((0..<3).map { plan.idleNode($0) } == [0, 1, 0])

        // A device's read marker goes to the room's node too, wherever the device pulls.
        for room in rooms { #expect(plan.roomNode(room, otherwise: 0) == plan.sendNode(slot: 3, room: room)) }
        #expect(rooms.contains { plan.roomNode($0, otherwise: 0) == 1 })

        let spread = LoadPlan(scenario: .dm, users: 8, senders: 5, receivers: nil, nodes: 2, route: .spread)
        #expect((0..<5).map { spread.sendNode(slot: $0, room: 7) } == [0, 1, 0, 1, 0])
        #expect(rooms.allSatisfy { spread.roomNode($0, otherwise: 1) == 1 })
    }

    /// dm sends go to rooms drawn at random, as either member: every room and both of its
    /// members get sends, and one slot does not walk the rooms in a fixed order another
    /// slot repeats one step later (closed-loop senders fell into convoys that way).
    @Test func dmSendsAreDrawnAtRandom() {
        let plan = LoadPlan(scenario: .dm, users: 20, senders: 4, receivers: nil)
        let picks = (0..<4).flatMap { slot in (1...200).map { plan.pick(slot: slot, n: $0) } }
        #expect(Set(picks.map(\.room)) == Set(0..<10))
        #expect(Set(picks.map(\.user)) == Set(0..<20))
        for p in picks { #expect(plan.rooms[p.room].contains(p.user)) }
        let walk = { (slot: Int) in (1...50).map { plan.pick(slot: slot, n: $0).room } }
        for a in 0..<4 {
            #expect(walk(a) == walk(a), "deterministic")
            for b in 0..<4 where b != a {
                for k in 1...10 { #expect(Array(walk(a)[k..<40]) != Array(walk(b)[0..<(40 - k)]), "slot \(b) repeats slot \(a)") }
            }
        }
    }

    /// One node (the default) is the old behaviour: everything on it.
    @Test func oneNodeTakesEverything() {
        let plan = LoadPlan(scenario: .mixed, users: 24, senders: 4, receivers: nil)
        #expect(plan.nodes == 1)
        #expect((0..<24).allSatisfy { u in (0..<3).allSatisfy { plan.deviceNode(user: u, device: $0) == 0 } })
        #expect((0..<4).allSatisfy { plan.sendNode(slot: $0, room: Int64($0) * 7) == 0 } && plan.idleNode(9) == 0)
    }
}
