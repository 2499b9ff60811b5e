import Dispatch
import Glibc
import Synchronization

public struct EngineConfiguration: Sendable {
    public var maxMessageBodyBytes = 16 * 1024
    public var maxPullLimit = 1000
    public var defaultPullLimit = 100
    public var maxHistoryLimit = 100
    public var defaultHistoryLimit = 20
    public var maxConversationLimit = 100
    public var defaultConversationLimit = 20
    /// Rooms one user may be in. Every hot room a user is in takes a place in their
    /// cursor, which must stay well under the 8,192-byte cursor limit (and under the
    /// 8 KB request lines proxies accept): 1,150 hot rooms made every cursor invalid.
    /// 500 hot rooms make a cursor of about 4.5 KB. A user at the limit cannot be added
    /// to another room (409 `room_limit`) until they leave one.
    public var maxRoomsPerUser = 500
    /// Members per page of `GET /v1/rooms/{id}/members`.
    public var maxMemberLimit = 1000
    public var defaultMemberLimit = 100
    public var maxPreview = 20
    public var maxRoomMembersPerRequest = 1000
    /// About how many bytes of JSON one page (sync, conversations, history) may carry,
    /// counted on what it carries (message bodies, sender, client_msg_id, previews) plus
    /// a fixed allowance per item, never by encoding twice. A page always carries at
    /// least one item, and one that stops early says so (`has_more`, `next_page`,
    /// `next_before`) and continues right after its last item. 1 MiB: 64 messages at the
    /// largest body (16 KiB), while small messages still fill `limit` (1,000 events of
    /// ~300 bytes are ~300 KB); a client that never reads holds ~1 MiB, not 16-33 MB.
    public var maxPageBytes = 1 << 20
    /// With `per_room_limit`, how many stream entries one catch-up page may scan.
    public var catchUpScanWindow = 10_000
    /// Rooms with at least this many members use read diffusion (ARCHITECTURE.md, "Ordering, cursors and the invariants").
    public var hotThreshold = 500
    /// At most one `receipts` event per room per sender per window.
    public var receiptsWindowMillis: Int64 = 1000
    /// How long after sending its sender may edit a message (`--edit-window`).
    public var editWindowMillis: Int64 = 86_400_000
    /// How long after sending its sender may recall a message (`--recall-window`); the
    /// room's owner may at any time.
    public var recallWindowMillis: Int64 = 86_400_000
    /// Messages one erasure step recalls (`DELETE /v1/admin/users/{name}`).
    public var erasureBatch = 100
    /// Inbox rows (what offline devices have not pulled) are kept this long; a cursor
    /// older than what remains is expired (410). 0 keeps them forever.
    public var offlineRetentionMillis: Int64 = 7 * 86_400_000
    /// Messages (history) are kept this long. 0 keeps them forever.
    public var historyRetentionMillis: Int64 = 180 * 86_400_000
    /// How often the background job looks for data to prune.
    public var retentionInterval: Duration = .seconds(60)
    /// How often a single-process server (SQLite) looks for devices another process
    /// revoked (`pigeonhole device revoke` while it runs), to end their connections.
    public var revocationSweepInterval: Duration = .seconds(1)
    /// Queue offline pushes (set when a push webhook is configured).
    public var pushEnabled = false
    public var pushMaxAttempts = 8
    public var pushBackoffBaseMillis: Int64 = 1000
    public var pushBackoffMaxMillis: Int64 = 300_000
    public init() {}
}
