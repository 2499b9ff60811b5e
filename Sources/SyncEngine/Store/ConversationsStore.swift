// The first screen, unread counters and read markers.
// Requirements are added here as the area moves behind the seam (see Store.swift).

public protocol ConversationsReads {}
public protocol ConversationsWrites {}
