#pragma once
#include "util/bytes.h"
#include "util/hex.h"

#include <algorithm>
#include <compare>
#include <cstring>
#include <optional>
#include <string>

namespace vw {

//! 32 raw bytes in serialization (internal) order. Display order is a property of the strong
//! id types in primitives/hash_types.h, never of this type.
struct Uint256 {
    std::array<uint8_t, 32> bytes{};

    static Uint256 FromSpan(ByteSpan s)
    {
        Uint256 r;
        if (s.size() == 32) std::memcpy(r.bytes.data(), s.data(), 32);
        return r;
    }
    //! Parses 64 hex chars in serialization order.
    static std::optional<Uint256> FromHex(std::string_view hex)
    {
        if (hex.size() != 64) return std::nullopt;
        auto b = ParseHex(hex);
        if (!b) return std::nullopt;
        return FromSpan(*b);
    }
    std::string Hex() const { return HexStr(bytes); }
    ByteSpan span() const { return {bytes.data(), 32}; }
    const uint8_t* data() const { return bytes.data(); }
    uint8_t* data() { return bytes.data(); }
    bool IsNull() const { return std::all_of(bytes.begin(), bytes.end(), [](uint8_t b) { return b == 0; }); }
    //! First 8 bytes as an integer; a cheap, well-mixed key for hash tables (inputs are hashes).
    uint64_t Cheap64() const
    {
        uint64_t v;
        std::memcpy(&v, bytes.data(), 8);
        return v;
    }
    friend auto operator<=>(const Uint256&, const Uint256&) = default;
    friend bool operator==(const Uint256&, const Uint256&) = default;
};

} // namespace vw
