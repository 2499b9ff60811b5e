import HTTPServer
import JSON
import SyncEngine

/// `/v1/direct/{name}`, `/v1/rooms`, `/v1/rooms/{id}`: opening a direct room, creating a
/// group, reading a room. Writes resolve the token first (a read off the loop), then
/// take from the device's buckets and submit their unit, back on the loop.
struct RoomHandlers {
    enum Route: Equatable, Sendable {
        /// The direct room with this user (created on first use).
        case direct(UserName)
        case create
        case get(RoomID)
    }

    let api: PigeonholeAPI

    func handle(_ route: Route, _ input: RequestInput, _ responder: Responder) throws {
        switch route {
        case .direct(let other):
            try api.authenticated(input, responder) { me in try direct(other, me, responder) }
        case .create:
            try api.authenticated(input, responder) { me in try create(input, me, responder) }
        case .get(let id):
            try api.authedRead(input, responder, { ctx, me in try Rooms.get(ctx, me: me.user, room: id) }) { room, peer in
                json(.ok) { Encode.room(room, peer: peer, &$0) }
            }
        }
    }

    private func direct(_ other: UserName, _ me: Principal, _ responder: Responder) throws {
        try api.takeRoomWrite(me.device, rooms: 1, members: 0)
        let otherName = other.rawValue
        api.write(responder, { [api] ctx in
            try api.takeSharedRoomWrite(ctx, me.device, rooms: 1, members: 0)
            return try Rooms.direct(ctx, me: me, otherName: otherName)
        }) { room, created in
            json(created ? .created : .ok) { Encode.room(room, peer: otherName, &$0) }
        }
    }

    private func create(_ input: RequestInput, _ me: Principal, _ responder: Responder) throws {
        let body = try input.object()
        let name = try RequestInput.string(body, "name")
        let members = try RequestInput.optionalStringArray(body, "members")
        try api.checkMemberCount(members)
        try api.takeRoomWrite(me.device, rooms: 1, members: members.count)
        api.write(responder, { [api] ctx in
            try api.takeSharedRoomWrite(ctx, me.device, rooms: 1, members: members.count)
            return try Rooms.createGroup(ctx, me: me, name: name, memberNames: members)
        }) { room in
            json(.created) { Encode.room(room, peer: nil, &$0) }
        }
    }
}
