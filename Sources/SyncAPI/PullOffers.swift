import Sockets
import Synchronization
import SyncEngine

/// Pages a `/v1/notify` socket can vouch for without a read: after a `mail` frame the
/// client pulls from the cursor it holds, and when that is the head the socket knew just
/// before one message arrived (the message's inbox row exactly the next one, no other
/// news, no head read under way), the page is that message and the cursor after it,
/// the page a read would give. The socket posts it here per user; a pull from exactly
/// that cursor, whose token the node resolved recently (`PrincipalCache`: never past a
/// revocation), on any loop, is answered from it. Any other news withdraws it.
///
/// An offer taken a moment after newer news arrived is still exact: the events after
/// its cursor up to the next cursor (a past snapshot); the client pulls on from there.
/// An offer lives `lifetime` (the pull follows the mail at once): it never outlives a
/// retention window, nor holds a message for a socket that stays idle (its socket
/// withdraws it then: `MailNotifier`).
final class PullOffers: Sendable {
    struct Offer: Sendable {
        let from: Cursor
        let to: Cursor
        let message: Message
        /// MonotonicClock nanoseconds.
        var postedAt: UInt64 = 0
    }

    private let offers = Mutex<[UserID: Offer]>([:])
    let lifetimeNanos: UInt64
    /// Pulls answered from an offer (tests count them).
    let answered = Counter()

    init(lifetime: Duration) {
        let (s, atto) = lifetime.components
        lifetimeNanos = UInt64(max(0, s)) * 1_000_000_000 + UInt64(max(0, atto) / 1_000_000_000)
    }

    func post(_ user: UserID, _ offer: Offer) {
        var offer = offer
        offer.postedAt = MonotonicClock.now()
        offers.withLock { $0[user] = offer }
    }

    func withdraw(_ user: UserID) { _ = offers.withLock { $0.removeValue(forKey: user) } }

    /// Withdraws `user`'s offer if it has lived its lifetime; otherwise returns how long it
    /// has left (nil: none is there any more).
    func expire(_ user: UserID) -> Duration? {
        let now = MonotonicClock.now()
        return offers.withLock { o -> Duration? in
            guard let offer = o[user] else { return nil }
            let age = now &- offer.postedAt
            guard age < lifetimeNanos else {
                o[user] = nil
                return nil
            }
            return .nanoseconds(Int64(lifetimeNanos - age))
        }
    }

    /// The offer for a pull of `user` from exactly `cursor` (its text as given), if it is
    /// within its lifetime.
    func offer(user: UserID, from cursor: String) -> Offer? {
        guard let offer = offers.withLock({ $0[user] }), offer.from.encoded == cursor,
              MonotonicClock.now() &- offer.postedAt < lifetimeNanos else { return nil }
        answered.add(1)
        return offer
    }

    var count: Int { offers.withLock { $0.count } }
}
