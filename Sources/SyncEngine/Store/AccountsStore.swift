// Users, devices and tokens.
// Requirements are added here as the area moves behind the seam (see Store.swift).

public protocol AccountsReads {}
public protocol AccountsWrites {}
