#pragma once
// Byte containers used across the core. uint8_t rather than std::byte: every external format
// (hex, secp256k1, OpenSSL, ZMQ frames) speaks unsigned char, and the casts would add noise
// without catching bugs (see docs/developer-notes.md).

#include <array>
#include <cstddef>
#include <cstdint>
#include <span>
#include <vector>

namespace vw {

using Bytes = std::vector<uint8_t>;
using ByteSpan = std::span<const uint8_t>;

inline ByteSpan AsSpan(const Bytes& b) { return {b.data(), b.size()}; }
template <size_t N>
inline ByteSpan AsSpan(const std::array<uint8_t, N>& a) { return {a.data(), a.size()}; }

inline bool Equal(ByteSpan a, ByteSpan b)
{
    return a.size() == b.size() && std::equal(a.begin(), a.end(), b.begin());
}

} // namespace vw
