import SyncEngine
import Testing

/// A unit's news, merged (several units' news in one broadcast; news gathered while a
/// node's listener catches up): per stream the newest seq wins, receipts rooms add up,
/// revoked devices are all kept.
@Suite struct StoreNewsTests {
    @Test func mergeKeepsTheNewestOfEachStream() {
        var news = StoreNews(users: [UserID(1): 5, UserID(2): 9], rooms: [RoomID(7): 3], receipts: [UserID(1): [RoomID(7)]],
                             revoked: [UserID(2): [DeviceID(4)]])
        news.merge(StoreNews(users: [UserID(1): 4, UserID(3): 1], rooms: [RoomID(7): 8, RoomID(8): 1],
                             receipts: [UserID(1): [RoomID(8)]], revoked: [UserID(2): [DeviceID(5)]]))
        #expect(news == StoreNews(users: [UserID(1): 5, UserID(2): 9, UserID(3): 1], rooms: [RoomID(7): 8, RoomID(8): 1],
                                  receipts: [UserID(1): [RoomID(7), RoomID(8)]], revoked: [UserID(2): [DeviceID(4), DeviceID(5)]]))
    }

    @Test func emptyMeansNothingAtAll() {
        #expect(StoreNews().isEmpty)
        #expect(!StoreNews(users: [UserID(1): 1]).isEmpty)
        #expect(!StoreNews(rooms: [RoomID(1): 1]).isEmpty)
        #expect(!StoreNews(receipts: [UserID(1): []]).isEmpty)
        #expect(!StoreNews(revoked: [UserID(1): [DeviceID(1)]]).isEmpty)
        var n = StoreNews()
        n.merge(StoreNews())
        #expect(n.isEmpty)
    }
}
