import HTTPServer
import JSON
import SyncEngine

extension PigeonholeAPI {
    /// `/v1/admin/...`: provisioning with the admin token.
    func admin(_ route: APIRoute, _ input: RequestInput, _ responder: Responder) throws {
        switch route {
        case .adminCreateUser:
            let name = try RequestInput.string(try input.object(), "name")
            write(responder, { try Accounts.createUser($0, name: name) }) { user in
                json(.created) { Encode.user(user, &$0) }
            }
        case .adminListDevices(let userName):
            read(responder, { try Accounts.devices($0.store, userName: userName) }) { devices in
                json(.ok) { w in
                    w.object { w in
                        w.key("devices")
                        w.array { w in for d in devices { Encode.device(d, userName: userName, &w) } }
                    }
                }
            }
        case .adminCreateDevice(let userName):
            let name = try RequestInput.string(try input.object(), "name")
            write(responder, { try Accounts.createDevice($0, userName: userName, deviceName: name) }) { device, token in
                json(.created) { Encode.device(device, userName: userName, token: token, &$0) }
            }
        case .adminRevokeDevice(let id):
            write(responder, { try Accounts.revokeDevice($0, id: id) }) { _ in HTTPResponse(status: .noContent) }
        case .adminPushes:
            read(responder, {
                (try PushOutbox.depth($0.store), try PushOutbox.deadCount($0.store), try PushOutbox.dead($0.store, limit: 1000))
            }) { pending, deadTotal, dead in json(.ok) { w in
                w.object { w in
                    w.field("pending", pending)
                    w.field("dead_total", deadTotal)   // the list below shows the oldest 1,000
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
            } }
        default:
            preconditionFailure("not an admin route: \(route)")
        }
    }
}
