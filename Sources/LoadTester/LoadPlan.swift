/// Who is in which room and who sends what, for one load-test scenario. Users and
/// rooms are indices here; the load test maps them to names and server ids.
///
/// - `dm`: users in pairs, one direct room per pair; each send goes to a room drawn at
///   random (a hash of the sender slot and its count, so runs repeat) as one of its two
///   members. Not a fixed rotation: closed-loop senders rotating in step fell into
///   convoys, several slots sending into one room at once, run after run (up to 12
///   sends of one room in one commit), which flattered whichever setup let them form.
/// - `group:N` / `hot:N`: one N-member room (`hot` expects N at or above the server's
///   --hot-threshold, so the room is read-diffused); sender slot i sends as member i mod N.
/// - `mixed`: every user has a direct room with a partner, a 20-member group and one
///   room with everybody; 60% of sends go to direct rooms, 30% to groups, 10% to the
///   big room (hot once --users reaches the server's threshold).
///
/// With several nodes (`--url` given more than once), device d of user u connects to
/// node (d + u) mod nodes, so the devices of one user land on different nodes, and idle
/// clients go round-robin. A send (or a change), and a device's read marker, goes to the
/// node of its room (`Route.room`, the default: what the example nginx config does for
/// every /v1/rooms/{id}/ route), or to its sender slot's (device's) node (`Route.spread`:
/// a round-robin balancer).
package struct LoadPlan: Sendable {
    package enum Scenario: Equatable, Sendable {
        case dm
        case group(Int)
        case hot(Int)
        case mixed

        package init?(_ text: String) {
            switch text {
            case "dm": self = .dm
            case "mixed": self = .mixed
            default:
                let parts = text.split(separator: ":")
                guard parts.count == 2, let n = Int(parts[1]), n >= 2 else { return nil }
                switch parts[0] {
                case "group": self = .group(n)
                case "hot": self = .hot(n)
                default: return nil
                }
            }
        }
    }

    enum RoomKind: Sendable { case direct, group }

    /// Which node a send goes to when there are several (`--route`).
    package enum Route: String, Sendable {
        /// By its room: every send into one room reaches one node, as behind the example
        /// nginx config (deploy/nginx/pigeonhole.conf hashes /v1/rooms/{id}/ by id), so
        /// a room's writes never wait for another node's.
        case room
        /// By sender slot, round-robin: one room's sends reach every node.
        case spread
    }

    let scenario: Scenario
    let userCount: Int
    let senders: Int
    /// Server nodes the clients are spread over (at least 1).
    let nodes: Int
    let route: Route
    /// Members (user indices) of each room; the first member creates it.
    let rooms: [[Int]]
    let kinds: [RoomKind]
    /// Rooms of each user.
    let userRooms: [[Int]]
    /// Users whose devices sync and are verified.
    let receivers: [Int]

    /// `users` applies to dm and mixed. `receivers`: the first K users sync (default:
    /// every user in dm and mixed, 50 members of a group or hot room; 0 measures sends alone).
    package init(scenario: Scenario, users: Int, senders: Int, receivers: Int?, nodes: Int = 1, route: Route = .room) {
        self.scenario = scenario
        self.senders = senders
        self.nodes = max(1, nodes)
        self.route = route
        var rooms: [[Int]] = []
        var kinds: [RoomKind] = []
        let count: Int
        switch scenario {
        case .dm:
            count = max(2, users - users % 2)
            for k in 0..<(count / 2) { rooms.append([2 * k, 2 * k + 1]); kinds.append(.direct) }
        case .group(let n), .hot(let n):
            count = n
            rooms = [Array(0..<n)]
            kinds = [.group]
        case .mixed:
            count = max(4, users)
            for k in 0..<(count / 2) { rooms.append([2 * k, 2 * k + 1]); kinds.append(.direct) }
            for g in 0..<max(1, count / 20) {
                rooms.append(Array((g * 20)..<min(count, g * 20 + 20)))
                kinds.append(.group)
            }
            rooms.append(Array(0..<count))
            kinds.append(.group)
        }
        userCount = count
        self.rooms = rooms
        self.kinds = kinds
        var userRooms = [[Int]](repeating: [], count: count)
        for (r, members) in rooms.enumerated() { for u in members { userRooms[u].append(r) } }
        self.userRooms = userRooms
        switch scenario {
        case .dm, .mixed: self.receivers = Array(0..<min(count, receivers ?? count))
        case .group(let n), .hot(let n): self.receivers = Array(0..<min(n, receivers ?? 50))
        }
    }

    /// The n-th send (from 1) of sender slot `slot`: into which room, as which user.
    func pick(slot: Int, n: Int) -> (room: Int, user: Int) {
        switch scenario {
        case .dm:
            let h = Self.mix(UInt64(slot) << 32 | UInt64(n))
            let r = Int(h % UInt64(rooms.count))
            return (r, rooms[r][Int(h >> 63)])
        case .group(let size), .hot(let size):
            return (0, slot % size)
        case .mixed:
            let h = Self.mix(UInt64(slot) << 32 | UInt64(n))
            let user = Int(h % UInt64(userCount))
            let roll = Int((h >> 32) % 100)
            let mine = userRooms[user]   // [direct?, group, everybody] in creation order
            let direct = mine.first { kinds[$0] == .direct }
            let group = mine.dropLast().last { kinds[$0] == .group }
            let everybody = rooms.count - 1
            if roll < 60, let d = direct { return (d, user) }
            if roll < 90, let g = group { return (g, user) }
            return (everybody, user)
        }
    }

    /// The node of device `device` (from 0) of user `user`.
    func deviceNode(user: Int, device: Int) -> Int { (device + user) % nodes }

    /// The node a send (or change) of sender slot `slot` into room `room` (its server id) goes to.
    func sendNode(slot: Int, room: Int64) -> Int { roomNode(room, otherwise: slot % nodes) }

    /// The node a request about `room` goes to from a client whose own node is `node`:
    /// the room's (`Route.room`), or the client's own (`Route.spread`).
    func roomNode(_ room: Int64, otherwise node: Int) -> Int {
        switch route {
        case .room: Int(Self.mix(UInt64(bitPattern: room)) % UInt64(nodes))
        case .spread: node
        }
    }

    /// The node of idle client `k`.
    func idleNode(_ k: Int) -> Int { k % nodes }

    /// SplitMix64's finalizer: a cheap, well-spread hash for deterministic choices.
    static func mix(_ x: UInt64) -> UInt64 {
        var z = x &+ 0x9E37_79B9_7F4A_7C15
        z = (z ^ (z >> 30)) &* 0xBF58_476D_1CE4_E5B9
        z = (z ^ (z >> 27)) &* 0x94D0_49BB_1331_11EB
        return z ^ (z >> 31)
    }
}
