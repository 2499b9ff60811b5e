/// A message object as the scanner reads it: always its `id`, `room_id` and `seq`; with
/// `keepStates` also what says which state it is in (docs/message-changes.md): `body`
/// (its JSON text), `deleted`, `edited_at`, `edit_count`, `reactions` and `version`.
extension SyncPageScanner {
    struct Message {
        var room: Int64?
        var seq: Int64?
        var id: Int64?
        var state = MessageState()
    }

    mutating func message() throws -> Message {
        var m = Message()
        var present: [String] = []   // the fields a tombstone must not carry, when they came
        try object { s, key in
            switch key {
            case "id": m.id = try s.integer()
            case "room_id": m.room = try s.integer()
            case "seq": m.seq = try s.integer()
            case _ where !s.keepStates: try s.skipValue()
            case "body":
                s.ws()
                let start = s.i
                try s.skipValue()
                m.state.body = Array(s.b[start..<s.i])
                present.append("body")
            case "deleted": m.state.deleted = try s.bool()
            case "version": m.state.version = try s.integer()
            case "edit_count":
                m.state.editCount = try s.integer()
                present.append("edit_count")
            case "edited_at":
                try s.skipValue()
                m.state.edited = true
                present.append("edited_at")
            case "reactions":
                m.state.reactions = try s.reactions()
                present.append("reactions")
            default: try s.skipValue()
            }
        }
        if m.state.deleted { m.state.tombstoneExtras = present }
        return m
    }

    /// `[{"key": "...", "count": N, "me": B}, ...]`; an entry without key or count is invalid.
    private mutating func reactions() throws -> [MessageState.Reaction] {
        var out: [MessageState.Reaction] = []
        try array { s in
            var key: String?, count: Int64?, me = false
            try s.object { s, k in
                switch k {
                case "key": key = try s.string()
                case "count": count = try s.integer()
                case "me": me = try s.bool()
                default: try s.skipValue()
                }
            }
            guard let key, let count else { throw Invalid() }
            out.append(MessageState.Reaction(key: key, count: count, me: me))
        }
        return out
    }
}
