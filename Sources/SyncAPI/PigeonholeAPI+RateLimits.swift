import SyncEngine

/// The per-device and per-room token buckets a write takes from before it is
/// submitted (so refused and repeated requests count too), and the per-request cap on
/// named members.
extension PigeonholeAPI {
    /// One message from the device's send bucket.
    func takeSend(_ device: DeviceID) throws(APIError) {
        if let ms = sendLimiter.take(device) { throw .rateLimited(ms: ms, what: "messages from this device") }
    }

    /// Takes from the device's room and member buckets, both or neither: a limited
    /// request stores nothing and costs nothing, and is resent after `Retry-After`.
    func takeRoomWrite(_ device: DeviceID, rooms: Int, members: Int) throws(APIError) {
        if rooms > 0, let ms = roomLimiter.check(device, cost: Double(rooms)) {
            throw .rateLimited(ms: ms, what: "rooms created from this device")
        }
        if members > 0, let ms = memberLimiter.take(device, cost: Double(members)) {
            throw .rateLimited(ms: ms, what: "members added from this device")
        }
        if rooms > 0, let ms = roomLimiter.take(device, cost: Double(rooms)) {
            throw .rateLimited(ms: ms, what: "rooms created from this device")
        }
    }

    /// Members added to or removed from an existing room: refused while the room's
    /// membership bucket is in debt (the rows are charged once the change is done,
    /// `chargeMembership`), else taken from the device's member bucket.
    func takeMembershipChange(_ device: DeviceID, room: RoomID, count: Int) throws(APIError) {
        if let ms = membershipLimiter.check(room, cost: 0) {
            throw .rateLimited(ms: ms, what: "membership changes in this room")
        }
        try takeRoomWrite(device, rooms: 0, members: count)
    }

    /// The inbox rows a membership change wrote, charged to its room.
    func chargeMembership(_ room: RoomID) -> @Sendable (Int) -> Void {
        { [membershipLimiter] rows in membershipLimiter.charge(room, cost: Double(rows)) }
    }

    // The cluster's share of each limit (issue 20, item 5): over a database several nodes
    // write through, the write also takes from the same bucket in the database, inside
    // its unit (a send in the same statement): the cluster allows what one node would.
    // Nil where one process has the store to itself (its buckets above are the limit).

    func sharedSendBucket(_ device: DeviceID) -> RateBucket? {
        shared(sendLimiter, "send:d\(device.rawValue)", "messages from this device")
    }

    /// Takes the room and member tokens of a room write from the shared buckets (in its unit).
    func takeSharedRoomWrite(_ ctx: WriteContext, _ device: DeviceID, rooms: Int, members: Int) throws {
        if rooms > 0 {
            try RateBuckets.take(ctx, shared(roomLimiter, "rooms:d\(device.rawValue)", "rooms created from this device"),
                                 cost: Double(rooms))
        }
        if members > 0 {
            try RateBuckets.take(ctx, shared(memberLimiter, "members:d\(device.rawValue)", "members added from this device"),
                                 cost: Double(members))
        }
    }

    /// A membership change's unit, with the shared buckets: refused while the room's
    /// bucket is in debt, the device's member tokens taken, then `body`, then the inbox
    /// rows it wrote charged to the room.
    func sharedMembershipChange<T>(_ ctx: WriteContext, _ device: DeviceID, room: RoomID, count: Int,
                                   _ body: () throws -> T) throws -> T {
        let roomBucket = shared(membershipLimiter, "membership:r\(room.rawValue)", "membership changes in this room")
        try RateBuckets.take(ctx, roomBucket, cost: 0)
        try takeSharedRoomWrite(ctx, device, rooms: 0, members: count)
        let value = try body()
        try RateBuckets.charge(ctx, roomBucket, cost: Double(ctx.inboxRows))
        return value
    }

    private func shared<Key>(_ limiter: RateLimiter<Key>, _ key: String, _ what: String) -> RateBucket? {
        guard engine.store.isShared, limiter.isEnabled else { return nil }
        return RateBucket(key: key, ratePerSecond: limiter.ratePerSecond, burst: limiter.burst, what: what)
    }

    /// At most `maxRoomMembersPerRequest` names in one request.
    func checkMemberCount(_ names: [String]) throws(APIError) {
        let max = engine.config.maxRoomMembersPerRequest
        guard names.count <= max else { throw APIError.invalid("members", "at most \(max) per request") }
    }
}
