// A user's stream (inbox and hot rooms), cursors and acks.
// Requirements are added here as the area moves behind the seam (see Store.swift).

public protocol StreamReads {}
public protocol StreamWrites {}
