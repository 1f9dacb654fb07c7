#include "util/hex.h"

#include <array>

namespace vw {
namespace {
constexpr char kDigits[] = "0123456789abcdef";

// Value of each byte as a hex digit, or -1: one table lookup per character (blocks arrive from
// bitcoind as megabytes of hex).
constexpr std::array<int8_t, 256> kHexVal = [] {
    std::array<int8_t, 256> t{};
    for (auto& v : t) v = -1;
    for (int i = 0; i < 10; ++i) t[static_cast<size_t>('0' + i)] = static_cast<int8_t>(i);
    for (int i = 0; i < 6; ++i) {
        t[static_cast<size_t>('a' + i)] = static_cast<int8_t>(10 + i);
        t[static_cast<size_t>('A' + i)] = static_cast<int8_t>(10 + i);
    }
    return t;
}();

inline int HexVal(char c) { return kHexVal[static_cast<unsigned char>(c)]; }
} // namespace

std::string HexStr(ByteSpan bytes)
{
    std::string out(bytes.size() * 2, '\0');
    for (size_t i = 0; i < bytes.size(); ++i) {
        out[2 * i] = kDigits[bytes[i] >> 4];
        out[2 * i + 1] = kDigits[bytes[i] & 0xf];
    }
    return out;
}

std::optional<Bytes> ParseHex(std::string_view hex)
{
    if (hex.size() % 2 != 0) return std::nullopt;
    Bytes out(hex.size() / 2);
    for (size_t i = 0; i < out.size(); ++i) {
        const int hi = HexVal(hex[2 * i]);
        const int lo = HexVal(hex[2 * i + 1]);
        if ((hi | lo) < 0) return std::nullopt;
        out[i] = static_cast<uint8_t>((hi << 4) | lo);
    }
    return out;
}

} // namespace vw
