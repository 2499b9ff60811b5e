/// Everything the actors hand back.
struct LoadResults: Sendable {
    var sendLatencies: [Double] = []
    var acked: [Delivery.Record] = []
    /// room id -> seq -> when its send request started (MonoTime seconds).
    var sendStarts: [Int64: [Int64: Double]] = [:]
    /// (room id, user index) -> highest seq that user sent and got a 201 for.
    var ownSends: [Int64: [Int: Int64]] = [:]
    var sendErrors: [String: Int] = [:]
    /// Sends and changes made to each node (`--url`), in order.
    var requestsPerNode: [Int] = []
    var devices: [Int: Delivery.DeviceLog] = [:]
    /// (room id, user index) -> highest read marker a device of that user set.
    var readMarks: [Int64: [Int: Int64]] = [:]
    var syncErrors: [String: Int] = [:]
    var idleReady = 0
    var idleErrors: [String: Int] = [:]
    /// The `--changes` mode: the changes made, and each user's own reactions.
    var changes = ChangeBoard.Counts()
    var ownReactions = Convergence.OwnReactions()
}
