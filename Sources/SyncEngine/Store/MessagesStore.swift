// Messages, history and idempotent sends.
// Requirements are added here as the area moves behind the seam (see Store.swift).

public protocol MessagesReads {}
public protocol MessagesWrites {}
