import Dispatch
import Synchronization

// The background duties of message changes (docs/message-changes.md): the reactions
// flush (about once a second, one `reactions` event per changed message) and users'
// erasures (bounded steps until done). Both run on every node: a room's flush takes the
// room row's lock and its marks, so two nodes never write one mark's event twice; an
// erasure's steps pick the messages not yet tombstones.
extension SyncEngine {
    /// Writes the pending `reactions` events, 200 rooms at a time (a unit per room), the
    /// longest waiting first, until none is left; then calls `done` with how many it wrote.
    public func flushReactions(_ done: @escaping @Sendable (Int) -> Void) {
        flushReactions(wrote: 0, done)
    }

    private func flushReactions(wrote: Int, _ done: @escaping @Sendable (Int) -> Void) {
        let limit = 200
        read({ try $0.store.roomsWithReactionMarks(limit: limit) }) { [self] result in
            guard case .success(let rooms) = result, !rooms.isEmpty else { return done(wrote) }
            let left = Mutex((rooms: rooms.count, events: 0))
            for room in rooms {
                write(room: room, { try MessageChanges.flushReactions($0, room: room) }) { [self] r in
                    let finished = left.withLock { l -> Int? in
                        l.rooms -= 1
                        if case .success(let n) = r { l.events += n }
                        return l.rooms == 0 ? l.events : nil
                    }
                    guard let finished else { return }
                    // A full page may have more behind it (marks made meanwhile wait for
                    // the next second).
                    if rooms.count == limit, finished > 0 { flushReactions(wrote: wrote + finished, done) } else { done(wrote + finished) }
                }
            }
        }
    }

    /// Starts an erasure round unless one is running (then its next tick, within a
    /// second, picks up what was asked meanwhile).
    public func eraseSoon() {
        guard erasing.trySet() else { return }
        eraseRound { [self] in _ = erasing.take() }
    }

    /// Runs every pending erasure to its end, step after step, scrubbing the store after
    /// (the erased text leaves its files), then calls `done`.
    public func eraseRound(_ done: @escaping @Sendable () -> Void) {
        read({ try $0.store.erasuresPending() }) { [self] result in
            guard case .success(let users) = result, !users.isEmpty else { return done() }
            eraseUsers(users[...], erasedAny: false, done)
        }
    }

    private func eraseUsers(_ users: ArraySlice<UserID>, erasedAny: Bool, _ done: @escaping @Sendable () -> Void) {
        guard let user = users.first else {
            if erasedAny { store.scrubErasedText() }
            return done()
        }
        eraseSteps(user, after: "") { [self] erased in
            eraseUsers(users.dropFirst(), erasedAny: erasedAny || erased, done)
        }
    }

    private func eraseSteps(_ user: UserID, after: String, erased: Bool = false, _ done: @escaping @Sendable (Bool) -> Void) {
        write({ try Erasure.step($0, user: user, after: after) }) { [self] result in
            switch result {
            case .success(let step) where !step.done:
                eraseSteps(user, after: step.after, erased: erased || step.messages > 0, done)
            case .success(let step):
                done(erased || step.messages > 0)
            case .failure:
                done(erased)   // the next round starts again (what is erased stays erased)
            }
        }
    }

    func startChangeJobs(_ timers: inout [DispatchSourceTimer]) {
        let flushing = Flag()
        timers.append(Self.timer(every: .seconds(1)) { [self] in
            guard flushing.trySet() else { return }
            flushReactions { _ in _ = flushing.take() }
        })
        timers.append(Self.timer(every: .seconds(1)) { [self] in eraseSoon() })
    }
}
