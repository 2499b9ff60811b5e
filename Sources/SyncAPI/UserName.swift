/// A user name as a path names it (`/v1/direct/{name}`, `/v1/rooms/{id}/members/{name}`,
/// `/v1/admin/users/{name}/devices`), percent-decoded, never empty, otherwise as sent:
/// the engine decides whether such a user exists (404 `user_not_found`). A type of its
/// own so a route's captures cannot be confused with each other or with other text.
struct UserName: Hashable, Sendable, CustomStringConvertible {
    let rawValue: String

    init(_ rawValue: String) { self.rawValue = rawValue }

    var description: String { rawValue }
}
