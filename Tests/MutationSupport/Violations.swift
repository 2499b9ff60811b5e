import Foundation

/// Invariant violations found over many generated inputs; the first few are kept with
/// the input (base64), for the test to report: `#expect(v.count == 0, "\(v)")`.
public struct Violations: CustomStringConvertible {
    public private(set) var count = 0
    public private(set) var recorded: [String] = []

    public init() {}

    public mutating func check(_ ok: Bool, _ what: @autoclosure () -> String, _ input: [UInt8]) {
        guard !ok else { return }
        count += 1
        if count <= 10 { recorded.append("\(what()); input (base64): \(Data(input).base64EncodedString())") }
    }

    public var description: String { recorded.joined(separator: "\n") }
}
