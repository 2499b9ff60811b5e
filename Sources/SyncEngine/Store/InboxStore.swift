// Write diffusion: events appended to users' inboxes.
// Requirements are added here as the area moves behind the seam (see Store.swift).

public protocol InboxWrites {}
