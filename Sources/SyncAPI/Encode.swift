import HTTPServer
import JSON
import SyncEngine

/// The JSON shapes of the API (openapi.yaml `components/schemas`). One shape for a
/// message everywhere it appears.
enum Encode {
    static func message(_ m: Message, _ w: inout JSONWriter, extra: (inout JSONWriter) -> Void = { _ in }) {
        w.object { w in
            w.field("id", m.id.rawValue)
            w.field("room_id", m.room.rawValue)
            w.field("seq", m.seq)
            w.field("sender", m.sender)
            w.key("sender_device_id")
            if let d = m.senderDevice { w.int(d.rawValue) } else { w.null() }
            w.field("client_msg_id", m.clientMsgID)
            // A tombstone has no body, edits or reactions: its text is erased.
            if let deleted = m.deletedAt {
                w.key("sent_at"); w.timestamp(m.sentAt)
                w.field("deleted", true)
                w.key("deleted_at"); w.timestamp(deleted)
            } else {
                w.key("body"); w.raw(m.body)
                w.key("sent_at"); w.timestamp(m.sentAt)
                if let edited = m.editedAt {
                    w.key("edited_at"); w.timestamp(edited)
                    w.field("edit_count", m.editCount)
                }
                if !m.reactions.isEmpty {
                    w.key("reactions")
                    w.array { w in
                        for r in m.reactions {
                            w.object { w in
                                w.field("key", r.key)
                                w.field("count", r.count)
                                w.field("me", r.me)
                            }
                        }
                    }
                }
            }
            if m.version > 0 { w.field("version", m.version) }
            extra(&w)
        }
    }

    /// `activeAt` overrides the room's activity (the conversation list shows the
    /// activity it sorts by, which for a normal room is the member's own).
    static func room(_ r: Room, peer: String?, activeAt: Int64? = nil, _ w: inout JSONWriter,
                     extra: (inout JSONWriter) -> Void = { _ in }) {
        w.object { w in
            w.field("id", r.id.rawValue)
            w.field("kind", r.kind.rawValue)
            w.field("name", optional: r.name)
            if r.kind == .direct { w.field("peer", optional: peer) }
            w.field("last_seq", r.lastSeq)
            w.field("member_count", r.memberCount)
            w.field("hot", r.hot)   // read diffusion (rooms at or above --hot-threshold members)
            w.key("last_active_at"); w.timestamp(activeAt ?? r.lastActiveAt)
            w.key("created_at"); w.timestamp(r.createdAt)
            extra(&w)
        }
    }

    static func member(_ m: Member, _ w: inout JSONWriter) {
        w.object { w in
            w.field("user", m.name)
            w.field("role", m.role)
            w.field("joined_seq", m.joinedSeq)
            w.field("read_seq", m.readSeq)
        }
    }

    static func event(_ e: Event, _ w: inout JSONWriter) {
        w.object { w in
            w.field("type", e.kind.rawValue)
            if let room = e.room { w.field("room_id", room.rawValue) }
            if let change = e.message?.change { w.field("seq", change.seq) }
            if let m = e.message {
                w.key("message")
                message(m, &w)
            }
            if case .object(let members)? = e.payload {
                for (k, v) in members {
                    w.key(text: k)
                    w.value(v)
                }
            }
        }
    }

    static func device(_ d: Device, userName: String, token: String? = nil, _ w: inout JSONWriter) {
        w.object { w in
            w.field("id", d.id.rawValue)
            w.field("user", userName)
            w.field("name", d.name)
            w.field("created_at", Timestamp.rfc3339(d.createdAt))
            w.field("last_seen_at", optional: d.lastSeenAt.map(Timestamp.rfc3339))
            w.field("revoked", d.revoked)
            if let token { w.field("token", token) }
        }
    }

    static func user(_ u: User, _ w: inout JSONWriter) {
        w.object { w in
            w.field("id", u.id.rawValue)
            w.field("name", u.name)
            w.field("created_at", Timestamp.rfc3339(u.createdAt))
        }
    }

    /// `GET /v1/admin/users/{name}/erasure` (and the 202 of its DELETE).
    static func erasure(_ p: ErasureProgress, user: String, _ w: inout JSONWriter) {
        w.object { w in
            w.field("user", user)
            w.field("state", p.finishedAt == nil ? "running" : "done")
            w.key("requested_at"); w.timestamp(p.requestedAt)
            if let f = p.finishedAt { w.key("finished_at"); w.timestamp(f) }
            w.field("messages_erased", p.messagesErased)
            w.field("messages_left", p.messagesLeft)
            w.field("reactions_left", p.reactionsLeft)
        }
    }

    static func conversations(_ page: ConversationPage, _ w: inout JSONWriter) {
        w.object { w in
            w.key("conversations")
            w.array { w in
                for c in page.conversations {
                    room(c.room, peer: c.peer, activeAt: c.lastActiveAt, &w) { w in
                        w.field("unread", c.unread)
                        w.field("read_seq", c.readSeq)
                        w.key("preview")
                        w.array { w in for m in c.preview { message(m, &w) } }
                    }
                }
            }
            if let next = page.nextPage { w.field("next_page", next) }
            w.field("cursor", page.cursor.encoded)
        }
    }

    static func pull(_ r: PullResult, _ w: inout JSONWriter) {
        w.object { w in
            w.key("events")
            w.array { w in for e in r.events { event(e, &w) } }
            w.field("cursor", r.cursor.encoded)
            w.field("has_more", r.hasMore)
            if !r.gaps.isEmpty {
                w.key("gaps")
                w.array { w in
                    for g in r.gaps {
                        w.object { w in
                            w.field("room_id", g.room.rawValue)
                            w.field("before_seq", g.beforeSeq)
                        }
                    }
                }
            }
        }
    }
}

/// A JSON response built with a JSONWriter.
func json(_ status: HTTPStatus, _ build: (inout JSONWriter) -> Void) -> HTTPResponse {
    var w = JSONWriter()
    build(&w)
    return .json(status, w.bytes)
}
