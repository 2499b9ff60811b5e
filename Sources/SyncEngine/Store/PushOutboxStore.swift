// The offline-push outbox.
// Requirements are added here as the area moves behind the seam (see Store.swift).

public protocol PushOutboxReads {}
public protocol PushOutboxWrites {}
