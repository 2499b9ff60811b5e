// Pruning of old inbox rows and messages.
// Requirements are added here as the area moves behind the seam (see Store.swift).

public protocol RetentionWrites {}
