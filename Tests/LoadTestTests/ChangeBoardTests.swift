import Testing
@testable import LoadTester

/// What the senders change in the `--changes` mode: edits and recalls only of the user's
/// own messages, reactions toggled by what the user has, one request per reaction at a time.
@Suite struct ChangeBoardTests {
    /// A roll that makes `kind` (0-3 edit, 4-5 recall, 6-9 reaction) pick candidate `pick` and reaction key `key`.
    static func roll(_ kind: UInt64, pick: UInt64 = 0, key: UInt64 = 0) -> UInt64 { kind | pick << 16 | key << 40 }
    static func key(_ seq: Int64) -> Convergence.Key { Convergence.Key(room: 7, seq: seq) }

    @Test func nothingToChangeMeansSend() {
        let board = ChangeBoard()
        for k in 0..<10 { #expect(board.choose(room: 7, user: 1, roll: Self.roll(UInt64(k))) == nil) }
    }

    @Test func editsAndRecallsTakeTheUsersOwnMessages() {
        let board = ChangeBoard()
        board.sent(room: 7, seq: 1, user: 1)
        board.sent(room: 7, seq: 2, user: 2)
        board.sent(room: 7, seq: 3, user: 1)
        for pick: UInt64 in 0..<6 {
            #expect([.edit(Self.key(1), user: 1), .edit(Self.key(3), user: 1)].contains(board.choose(room: 7, user: 1, roll: Self.roll(2, pick: pick))))
        }
        #expect(board.choose(room: 7, user: 2, roll: Self.roll(0, pick: 5)) == .edit(Self.key(2), user: 2))
        // A recalled message is chosen for nothing more; with none of their own left, a user reacts instead.
        #expect(board.choose(room: 7, user: 2, roll: Self.roll(4)) == .recall(Self.key(2), user: 2))
        #expect(board.choose(room: 7, user: 2, roll: Self.roll(0)) == .react(Self.key(1), user: 2, key: ChangeBoard.keys[0], add: true))
        #expect(board.choose(room: 8, user: 1, roll: Self.roll(0)) == nil)   // another room's messages are not candidates
    }

    @Test func reactionsToggleAndWaitForTheirAnswer() {
        let board = ChangeBoard()
        board.sent(room: 7, seq: 1, user: 2)
        let add = ChangeBoard.Operation.react(Self.key(1), user: 1, key: ChangeBoard.keys[1], add: true)
        #expect(board.choose(room: 7, user: 1, roll: Self.roll(7, key: 1)) == add)
        #expect(board.choose(room: 7, user: 1, roll: Self.roll(7, key: 1)) == nil)   // in flight: not again meanwhile
        board.finished(add, .applied, error: nil)
        let remove = ChangeBoard.Operation.react(Self.key(1), user: 1, key: ChangeBoard.keys[1], add: false)
        #expect(board.choose(room: 7, user: 1, roll: Self.roll(7, key: 1)) == remove)
        board.finished(remove, .unknown, error: "unreact 0 timedOut")
        let s = board.state.withLock { $0 }
        #expect(s.own.made[1]?[Self.key(1)] == [ChangeBoard.keys[1]])   // the removal's outcome is unknown:
        #expect(s.own.uncertain[1] == [Self.key(1)])                     // its `me` is not checked
        #expect(s.counts.reactionsAdded == 1 && s.counts.reactionsRemoved == 0 && s.counts.errors == ["unreact 0 timedOut": 1])
    }

    @Test func halfTheReactionsTakeOneOfTheUsersOwnBack() {
        let board = ChangeBoard()
        for seq: Int64 in 1...3 { board.sent(room: 7, seq: seq, user: 2) }
        let takeBack: UInt64 = 1 << 63
        // Nothing of theirs yet: a reaction like any other.
        let add = ChangeBoard.Operation.react(Self.key(2), user: 1, key: ChangeBoard.keys[3], add: true)
        #expect(board.choose(room: 7, user: 1, roll: Self.roll(8, pick: 1, key: 3) | takeBack) == add)
        board.finished(add, .applied, error: nil)
        // Then whatever message and key the roll names, it is the one they have.
        #expect(board.choose(room: 7, user: 1, roll: Self.roll(8, pick: 2, key: 0) | takeBack)
                == .react(Self.key(2), user: 1, key: ChangeBoard.keys[3], add: false))
        #expect(board.choose(room: 7, user: 2, roll: Self.roll(8, pick: 2, key: 0) | takeBack)
                == .react(Self.key(3), user: 2, key: ChangeBoard.keys[0], add: true))   // not another user's
        board.finished(.react(Self.key(2), user: 1, key: ChangeBoard.keys[3], add: false), .refused, error: "unreact 429 rate_limited")
        // Also once the message is no longer among the recent ones, but not once it is recalled.
        for seq: Int64 in 4...40 { board.sent(room: 7, seq: seq, user: 3) }
        #expect(board.choose(room: 7, user: 1, roll: Self.roll(8, pick: 5, key: 1) | takeBack)
                == .react(Self.key(2), user: 1, key: ChangeBoard.keys[3], add: false))
        board.finished(.react(Self.key(2), user: 1, key: ChangeBoard.keys[3], add: false), .refused, error: "unreact 429 rate_limited")
        board.finished(.recall(Self.key(2), user: 2), .applied, error: nil)
        #expect(board.choose(room: 7, user: 1, roll: Self.roll(8, pick: 0, key: 1) | takeBack)
                == .react(Self.key(9), user: 1, key: ChangeBoard.keys[1], add: true))
    }
}
