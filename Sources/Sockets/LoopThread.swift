import Glibc

/// A detached pthread running a Sendable closure. The closure is passed through the
/// `void*` argument: a capturing closure as a C function pointer crashes the Swift 6
/// compiler (SWIFT-NOTES G12).
final class LoopThread: Sendable {
    let body: @Sendable () -> Void
    init(_ body: @escaping @Sendable () -> Void) { self.body = body }

    func start() {
        var tid = pthread_t()
        let box = Unmanaged.passRetained(self).toOpaque()
        let rc = pthread_create(&tid, nil, { arg in
            let thread = Unmanaged<LoopThread>.fromOpaque(arg!).takeRetainedValue()
            thread.body()
            return nil
        }, box)
        precondition(rc == 0, "pthread_create failed: \(rc)")
        pthread_detach(tid)
    }
}
