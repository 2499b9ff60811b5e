// Read receipts: counts from read markers, coalesced events.
// Requirements are added here as the area moves behind the seam (see Store.swift).

public protocol ReceiptsReads {}
public protocol ReceiptsWrites {}
