import HTTPServer
import JSON
import SyncEngine

/// `/v1/me`: the user and device a device token belongs to (one read: the token and the
/// answer come from the same snapshot).
struct AccountHandlers {
    enum Route: Equatable, Sendable {
        case me
    }

    let api: PigeonholeAPI

    func handle(_ route: Route, _ input: RequestInput, _ responder: Responder) throws {
        switch route {
        case .me: try me(input, responder)
        }
    }

    private func me(_ input: RequestInput, _ responder: Responder) throws {
        try api.authedRead(input, responder, { _, me in me }) { me in
            json(.ok) { w in
                w.object { w in
                    w.key("user"); w.object { w in w.field("id", me.user.rawValue); w.field("name", me.userName) }
                    w.key("device"); w.object { w in w.field("id", me.device.rawValue); w.field("name", me.deviceName) }
                }
            }
        }
    }
}
