#pragma once
// Bounded little-endian readers and writers over byte spans. The reader never reads past its
// span: every read checks the remaining length first and reports failure instead.

#include "util/bytes.h"

#include <bit>
#include <cstring>
#include <optional>

namespace vw {

//! Largest length a CompactSize may announce (Bitcoin Core MAX_SIZE).
inline constexpr uint64_t MAX_COMPACT_SIZE = 0x02000000;

//! Zero-copy cursor over a byte span. Views returned by ReadBytes live as long as the span.
class SpanReader
{
public:
    explicit SpanReader(ByteSpan data) : m_data(data) {}

    size_t remaining() const { return m_data.size() - m_pos; }
    size_t pos() const { return m_pos; }
    bool empty() const { return m_pos == m_data.size(); }
    ByteSpan data() const { return m_data; }

    std::optional<uint8_t> ReadU8()
    {
        if (remaining() < 1) return std::nullopt;
        return m_data[m_pos++];
    }
    std::optional<uint8_t> PeekU8() const
    {
        if (remaining() < 1) return std::nullopt;
        return m_data[m_pos];
    }
    std::optional<uint16_t> ReadLE16() { return ReadLE<uint16_t>(); }
    std::optional<uint32_t> ReadLE32() { return ReadLE<uint32_t>(); }
    std::optional<uint64_t> ReadLE64() { return ReadLE<uint64_t>(); }

    //! Reads a canonical CompactSize no larger than max. Non-canonical encodings fail, as in Core.
    //! The one-byte form (nearly every count and length in a block) is read inline.
    [[gnu::always_inline]] std::optional<uint64_t> ReadCompactSize(uint64_t max = MAX_COMPACT_SIZE)
    {
        if (m_pos < m_data.size()) [[likely]] {
            const uint8_t b = m_data.data()[m_pos]; // in bounds: checked on the line above
            if (b < 253 && b <= max) [[likely]] {
                ++m_pos;
                return b;
            }
        }
        return ReadCompactSizeSlow(max);
    }

private:
    std::optional<uint64_t> ReadCompactSizeSlow(uint64_t max)
    {
        auto first = ReadU8();
        if (!first) return std::nullopt;
        uint64_t v;
        if (*first < 253) {
            v = *first;
        } else if (*first == 253) {
            auto x = ReadLE16();
            if (!x || *x < 253) return std::nullopt;
            v = *x;
        } else if (*first == 254) {
            auto x = ReadLE32();
            if (!x || *x < 0x10000u) return std::nullopt;
            v = *x;
        } else {
            auto x = ReadLE64();
            if (!x || *x < 0x100000000ULL) return std::nullopt;
            v = *x;
        }
        if (v > max) return std::nullopt;
        return v;
    }

public:

    std::optional<ByteSpan> ReadBytes(size_t n)
    {
        if (remaining() < n) return std::nullopt;
        ByteSpan out = m_data.subspan(m_pos, n);
        m_pos += n;
        return out;
    }

    //! Reads a CompactSize length followed by that many bytes.
    std::optional<ByteSpan> ReadVarBytes()
    {
        auto n = ReadCompactSize();
        if (!n) return std::nullopt;
        return ReadBytes(static_cast<size_t>(*n));
    }

    bool Skip(size_t n)
    {
        if (remaining() < n) return false;
        m_pos += n;
        return true;
    }

private:
    template <typename T>
    std::optional<T> ReadLE()
    {
        if (remaining() < sizeof(T)) return std::nullopt;
        // One load, not a loop of bounds-checked byte reads (_GLIBCXX_ASSERTIONS checks every
        // span[]): this is most of what a block scan does. The length was checked above.
        T v;
        std::memcpy(&v, m_data.data() + m_pos, sizeof(T));
        if constexpr (std::endian::native == std::endian::big) {
            if constexpr (sizeof(T) == 2) v = __builtin_bswap16(v);
            else if constexpr (sizeof(T) == 4) v = __builtin_bswap32(v);
            else v = __builtin_bswap64(v);
        }
        m_pos += sizeof(T);
        return v;
    }

    ByteSpan m_data;
    size_t m_pos{0};
};

//! Append-only serializer.
class Writer
{
public:
    Writer() = default;
    explicit Writer(Bytes& out) : m_ext(&out) {}

    Writer& U8(uint8_t v) { buf().push_back(v); return *this; }
    Writer& LE16(uint16_t v) { return LE(v); }
    Writer& LE32(uint32_t v) { return LE(v); }
    Writer& LE64(uint64_t v) { return LE(v); }
    Writer& CompactSize(uint64_t n)
    {
        if (n < 253) return U8(static_cast<uint8_t>(n));
        if (n <= 0xffff) return U8(253).LE16(static_cast<uint16_t>(n));
        if (n <= 0xffffffff) return U8(254).LE32(static_cast<uint32_t>(n));
        return U8(255).LE64(n);
    }
    Writer& Raw(ByteSpan b) { buf().insert(buf().end(), b.begin(), b.end()); return *this; }
    Writer& VarBytes(ByteSpan b) { return CompactSize(b.size()).Raw(b); }

    Bytes& buf() { return m_ext ? *m_ext : m_own; }
    Bytes Take() { return std::move(buf()); }

private:
    template <typename T>
    Writer& LE(T v)
    {
        for (size_t i = 0; i < sizeof(T); ++i) buf().push_back(static_cast<uint8_t>(v >> (8 * i)));
        return *this;
    }
    Bytes m_own;
    Bytes* m_ext{nullptr};
};

inline size_t CompactSizeLen(uint64_t n) { return n < 253 ? 1 : n <= 0xffff ? 3 : n <= 0xffffffff ? 5 : 9; }

} // namespace vw
