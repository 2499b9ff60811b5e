import HTTPServer
import JSON
import SyncEngine

/// `/v1/rooms/{id}/members[/{name}]`: the member list (paged by name), adding members,
/// removing one. Both changes take from the device's member bucket and wait while the
/// room's membership bucket is in debt; the rows they wrote are charged to the room.
struct MemberHandlers {
    enum Route: Equatable, Sendable {
        case list(RoomID)
        case add(RoomID)
        case remove(RoomID, UserName)
    }

    let api: PigeonholeAPI

    func handle(_ route: Route, _ input: RequestInput, _ responder: Responder) throws {
        switch route {
        case .list(let id): try list(id, input, responder)
        case .add(let id):
            try api.authenticated(input, responder) { me in try add(id, input, me, responder) }
        case .remove(let id, let name):
            try api.authenticated(input, responder) { me in try remove(id, name, me, responder) }
        }
    }

    /// `limit` and `after` are checked before the token (a bad one costs no read).
    private func list(_ id: RoomID, _ input: RequestInput, _ responder: Responder) throws {
        let config = api.engine.config
        let limit = try input.queryInt("limit", default: config.defaultMemberLimit, range: 1...config.maxMemberLimit)!
        let after = input.queryString("after")
        if let after, after.utf8.count > 256 { throw APIError.invalid("after", "at most 256 bytes (a user name)") }
        try api.authedRead(input, responder, { ctx, me in
            try Rooms.members(ctx, me: me.user, room: id, after: after, limit: limit)
        }) { page in
            json(.ok) { w in
                w.object { w in
                    w.key("members"); w.array { w in for m in page.members { Encode.member(m, &w) } }
                    if let next = page.nextAfter { w.field("next_after", next) }
                }
            }
        }
    }

    private func add(_ id: RoomID, _ input: RequestInput, _ me: Principal, _ responder: Responder) throws {
        let names = try RequestInput.optionalStringArray(try input.object(), "members")
        guard !names.isEmpty else { throw APIError.invalid("members", "must name at least one user") }
        try api.checkMemberCount(names)
        try api.takeMembershipChange(me.device, room: id, count: names.count)
        api.write(responder, room: id, rows: api.chargeMembership(id), { [api] ctx in
            try api.sharedMembershipChange(ctx, me.device, room: id, count: names.count) {
                try Rooms.addMembers(ctx, me: me, room: id, names: names)
            }
        }) { added in
            json(.ok) { w in w.object { w in w.key("added"); w.array { w in for m in added { Encode.member(m, &w) } } } }
        }
    }

    /// A removal writes as many rows as an add: it counts against the same buckets.
    private func remove(_ id: RoomID, _ name: UserName, _ me: Principal, _ responder: Responder) throws {
        try api.takeMembershipChange(me.device, room: id, count: 1)
        let userName = name.rawValue
        api.write(responder, room: id, rows: api.chargeMembership(id), { [api] ctx in
            try api.sharedMembershipChange(ctx, me.device, room: id, count: 1) {
                try Rooms.removeMember(ctx, me: me, room: id, name: userName)
            }
        }) { _ in
            HTTPResponse(status: .noContent)
        }
    }
}
