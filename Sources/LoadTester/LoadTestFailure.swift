/// Why a load test failed: a bad `--url`, a node that is not healthy, provisioning the
/// server refused, or verification that found violations. `pigeonhole loadtest` prints
/// the description in one line and exits 1.
package struct LoadTestFailure: Error, CustomStringConvertible {
    package let description: String

    package init(description: String) { self.description = description }
}
