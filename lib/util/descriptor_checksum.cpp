#include "util/descriptor_checksum.h"

#include <array>
#include <cstdint>

namespace vw {
namespace {
// BIP-380: the characters a descriptor may hold, in groups of 32, and the checksum alphabet.
constexpr std::string_view kInputCharset =
    "0123456789()[],'/*abcdefgh@:$%{}"
    "IJKLMNOPQRSTUVWXYZ&+-.;<=>?!^_|~"
    "ijklmnopqrstuvwxyzABCDEFGH`#\"\\ ";
constexpr std::string_view kChecksumCharset = "qpzry9x8gf2tvdw0s3jn54khce6mua7l";

uint64_t PolyMod(uint64_t c, int val)
{
    const uint8_t c0 = static_cast<uint8_t>(c >> 35);
    c = ((c & 0x7ffffffffULL) << 5) ^ static_cast<uint64_t>(val);
    if (c0 & 1) c ^= 0xf5dee51989ULL;
    if (c0 & 2) c ^= 0xa9fdca3312ULL;
    if (c0 & 4) c ^= 0x1bab10e32dULL;
    if (c0 & 8) c ^= 0x3706b1677aULL;
    if (c0 & 16) c ^= 0x644d626ffdULL;
    return c;
}
} // namespace

std::optional<std::string> DescriptorChecksum(std::string_view s)
{
    uint64_t c = 1;
    int cls = 0, clscount = 0;
    for (char ch : s) {
        const auto pos = kInputCharset.find(ch);
        if (pos == std::string_view::npos) return std::nullopt;
        // Each character's position within its group, then (three at a time) which groups.
        c = PolyMod(c, static_cast<int>(pos & 31));
        cls = cls * 3 + static_cast<int>(pos >> 5);
        if (++clscount == 3) {
            c = PolyMod(c, cls);
            cls = 0;
            clscount = 0;
        }
    }
    if (clscount > 0) c = PolyMod(c, cls);
    for (int j = 0; j < 8; ++j) c = PolyMod(c, 0);
    c ^= 1;
    std::string out(8, ' ');
    for (int j = 0; j < 8; ++j) out[static_cast<size_t>(j)] = kChecksumCharset[(c >> (5 * (7 - j))) & 31];
    return out;
}

std::optional<std::string> AddDescriptorChecksum(std::string_view s)
{
    auto c = DescriptorChecksum(s);
    if (!c) return std::nullopt;
    return std::string(s) + "#" + *c;
}

std::optional<std::string_view> CheckDescriptorChecksum(std::string_view s, bool require)
{
    const auto hash = s.rfind('#');
    if (hash == std::string_view::npos) {
        if (require || !DescriptorChecksum(s)) return std::nullopt;
        return s;
    }
    const std::string_view body = s.substr(0, hash), sum = s.substr(hash + 1);
    if (sum.size() != 8) return std::nullopt;
    auto want = DescriptorChecksum(body);
    if (!want || *want != sum) return std::nullopt;
    return body;
}

} // namespace vw
