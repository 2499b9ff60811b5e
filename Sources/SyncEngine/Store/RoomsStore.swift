// Rooms and memberships.
// Requirements are added here as the area moves behind the seam (see Store.swift).

public protocol RoomsReads {}
public protocol RoomsWrites {}
