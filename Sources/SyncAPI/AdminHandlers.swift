import HTTPServer
import JSON
import SyncEngine

/// `/v1/admin/...`: provisioning with the admin token (checked before anything else).
struct AdminHandlers {
    enum Route: Equatable, Sendable {
        case createUser
        case listDevices(UserName)
        case createDevice(UserName)
        case revokeDevice(DeviceID)
        case pushes
        case eraseUser(UserName)
        case erasure(UserName)
    }

    let api: PigeonholeAPI

    func handle(_ route: Route, _ input: RequestInput, _ responder: Responder) throws {
        try api.requireAdmin(input)
        switch route {
        case .createUser: try createUser(input, responder)
        case .listDevices(let user): listDevices(user, responder)
        case .createDevice(let user): try createDevice(user, input, responder)
        case .revokeDevice(let id):
            api.write(responder, { try Accounts.revokeDevice($0, id: id) }) { _ in HTTPResponse(status: .noContent) }
        case .pushes: pushes(responder)
        case .eraseUser(let user):
            // Devices revoked in the unit (before the answer); the messages and reactions
            // go in the background (SyncEngine.eraseRound), the progress at .erasure.
            let name = user.rawValue
            let api = self.api
            api.engine.write({ try Erasure.request($0, userName: name) }) { result in
                switch result {
                case .failure(let error): responder.loop.execute { responder.respond(api.errorResponse(error)) }
                case .success(let id):
                    api.engine.eraseSoon()
                    api.read(responder, { ctx -> ErasureProgress in
                        guard let p = try ctx.store.erasure(user: id) else { throw SyncError.unexpected("an erasure just asked for is not there") }
                        return p
                    }) { p in json(.accepted) { Encode.erasure(p, user: name, &$0) } }
                }
            }
        case .erasure(let user):
            let name = user.rawValue
            api.read(responder, { ctx -> ErasureProgress in
                guard let u = try ctx.store.user(named: name) else { throw SyncError.userNotFound(name) }
                guard let p = try ctx.store.erasure(user: u.id) else { throw SyncError.invalid(field: "name", reason: "no erasure was asked for this user") }
                return p
            }) { p in json(.ok) { Encode.erasure(p, user: name, &$0) } }
        }
    }

    private func createUser(_ input: RequestInput, _ responder: Responder) throws {
        let name = try RequestInput.string(try input.object(), "name")
        api.write(responder, { try Accounts.createUser($0, name: name) }) { user in
            json(.created) { Encode.user(user, &$0) }
        }
    }

    private func listDevices(_ user: UserName, _ responder: Responder) {
        let userName = user.rawValue
        api.read(responder, { try Accounts.devices($0.store, userName: userName) }) { devices in
            json(.ok) { w in
                w.object { w in
                    w.key("devices")
                    w.array { w in for d in devices { Encode.device(d, userName: userName, &w) } }
                }
            }
        }
    }

    private func createDevice(_ user: UserName, _ input: RequestInput, _ responder: Responder) throws {
        let userName = user.rawValue
        let name = try RequestInput.string(try input.object(), "name")
        api.write(responder, { try Accounts.createDevice($0, userName: userName, deviceName: name) }) { device, token in
            json(.created) { Encode.device(device, userName: userName, token: token, &$0) }
        }
    }

    /// The outbox's depth and its dead pushes (the oldest 1,000 of them).
    private func pushes(_ responder: Responder) {
        api.read(responder, {
            (try PushOutbox.depth($0.store), try PushOutbox.deadCount($0.store), try PushOutbox.dead($0.store, limit: 1000))
        }) { pending, deadTotal, dead in
            json(.ok) { w in
                w.object { w in
                    w.field("pending", pending)
                    w.field("dead_total", deadTotal)
                    w.key("dead")
                    w.array { w in
                        for d in dead {
                            w.object { w in
                                w.field("id", d.pushID)
                                w.field("user", d.user)
                                w.field("room_id", d.roomID.rawValue)
                                w.field("message_id", d.messageID.rawValue)
                                w.field("attempts", d.attempts)
                                w.field("last_error", optional: d.lastError)
                                w.field("created_at", Timestamp.rfc3339(d.createdAt))
                            }
                        }
                    }
                }
            }
        }
    }
}
