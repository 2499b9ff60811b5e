/// A setup step that did not go as the test needed (not an assertion of the test itself).
struct TestFailure: Error, CustomStringConvertible {
    let description: String
    init(_ description: String) { self.description = description }
}
