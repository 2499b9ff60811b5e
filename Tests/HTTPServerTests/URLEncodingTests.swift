import HTTPServer
import Testing

/// `isValidQuery` (the routers' check, with no allocation for printable ASCII) says
/// exactly what `parseQuery` (the handlers' decoding) says, for every kind of part.
@Suite struct URLEncodingTests {
    static let queries: [(String, Bool)] = [
        ("", true),
        ("cursor=AAEC_-x&wait=30", true),
        ("a=1&b=x%20y+z&flag&c=%E2%82%AC", true),   // an escape past ASCII: the full parse
        ("&&a=&=b&", true),
        ("q=%41%7e", true),
        ("q=%7F", false),                            // DEL, escaped
        ("q=%00", false),
        ("q=%1f", false),
        ("q=%E2%82", false),                         // cut UTF-8
        ("q=%ZZ", false),
        ("q=%4", false),
        ("q=%", false),
        ("q=%4&", false),
        ("q=\u{7F}", true),                          // a raw DEL is not an escape: as parseQuery
        ("q=\t", true),
        ("q=é", true),
        ("q=%C3%A9", true),
    ]

    @Test(arguments: queries) func theCheckAgreesWithTheParse(_ c: (String, Bool)) {
        #expect((URLEncoding.parseQuery(c.0) != nil) == c.1)
        #expect(URLEncoding.isValidQuery(c.0) == c.1)
    }
}
