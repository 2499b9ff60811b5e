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
final class PullOffers: Sendable {
    struct Offer: Sendable {
        let from: Cursor
        let to: Cursor
        let message: Message
    }

    private let offers = Mutex<[UserID: Offer]>([:])
    /// Pulls answered from an offer (tests count them).
    let answered = Counter()

    func post(_ user: UserID, _ offer: Offer) { offers.withLock { $0[user] = offer } }

    func withdraw(_ user: UserID) { _ = offers.withLock { $0.removeValue(forKey: user) } }

    /// The offer for a pull of `user` from exactly `cursor` (its text as given).
    func offer(user: UserID, from cursor: String) -> Offer? {
        guard let offer = offers.withLock({ $0[user] }), offer.from.encoded == cursor else { return nil }
        answered.add(1)
        return offer
    }

    var count: Int { offers.withLock { $0.count } }
}
