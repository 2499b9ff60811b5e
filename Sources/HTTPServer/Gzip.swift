import CZlib

/// gzip (RFC 1952) through zlib: windowBits 15 + 16 selects the gzip wrapper.
public enum Gzip {
    public static func compress(_ input: [UInt8], level: Int32 = 6) -> [UInt8]? {
        var strm = z_stream()
        guard czlib_deflateInit2(&strm, level, Z_DEFLATED, 31, 8, Z_DEFAULT_STRATEGY) == Z_OK else { return nil }
        defer { deflateEnd(&strm) }
        var out = [UInt8](repeating: 0, count: Int(deflateBound(&strm, uLong(input.count))))
        var input = input
        let rc: Int32 = input.withUnsafeMutableBufferPointer { inp in
            out.withUnsafeMutableBufferPointer { outp in
                strm.next_in = inp.baseAddress
                strm.avail_in = uInt(inp.count)
                strm.next_out = outp.baseAddress
                strm.avail_out = uInt(outp.count)
                return deflate(&strm, Z_FINISH)
            }
        }
        guard rc == Z_STREAM_END else { return nil }
        out.removeSubrange(Int(strm.total_out)...)
        return out
    }

    /// Inflates a gzip stream; nil if it is not valid gzip or exceeds `maxOutput`.
    public static func decompress(_ input: [UInt8], maxOutput: Int = 64 << 20) -> [UInt8]? {
        var strm = z_stream()
        guard czlib_inflateInit2(&strm, 31) == Z_OK else { return nil }
        defer { inflateEnd(&strm) }
        var input = input
        var out: [UInt8] = []
        var chunk = [UInt8](repeating: 0, count: 64 * 1024)
        return input.withUnsafeMutableBufferPointer { inp -> [UInt8]? in
            strm.next_in = inp.baseAddress
            strm.avail_in = uInt(inp.count)
            while true {
                let (rc, produced) = chunk.withUnsafeMutableBufferPointer { c -> (Int32, Int) in
                    strm.next_out = c.baseAddress
                    strm.avail_out = uInt(c.count)
                    let rc = inflate(&strm, Z_NO_FLUSH)
                    return (rc, c.count - Int(strm.avail_out))
                }
                out.append(contentsOf: chunk[0..<produced])
                if out.count > maxOutput { return nil }
                if rc == Z_STREAM_END { return out }
                if rc != Z_OK { return nil }
            }
        }
    }
}
