#pragma once
// The two real blocks in tests/data, read and decoded once per test binary.

#include "primitives/block.h"
#include "unit/util/test_data.h"

#include <gtest/gtest.h>

#include <map>
#include <optional>
#include <string>
#include <vector>

namespace vw::test {

struct RawBlock {
    std::string name;
    Bytes raw;
    std::optional<Block> block; //!< nullopt if DecodeBlock failed (the tests then fail)
};

inline const RawBlock& LoadBlock(const std::string& file)
{
    static std::map<std::string, RawBlock> cache;
    auto it = cache.find(file);
    if (it == cache.end()) {
        RawBlock rb{file, ReadTestDataBytes(file), std::nullopt};
        auto b = DecodeBlock(rb.raw);
        if (b) rb.block = std::move(*b);
        it = cache.emplace(file, std::move(rb)).first;
    }
    return it->second;
}

inline const RawBlock& Mainnet413567() { return LoadBlock("block413567.raw"); }
inline const RawBlock& RegtestTaproot() { return LoadBlock("regtest-taproot-block.raw"); }

//! The serialized bytes of each transaction of a block, located by reading the block again with
//! ReadTransaction (independent of TxView).
inline std::vector<ByteSpan> TxSlices(const RawBlock& rb)
{
    std::vector<ByteSpan> out;
    SpanReader r{rb.raw};
    if (!r.Skip(BlockHeader::SIZE)) return out;
    auto n = r.ReadCompactSize();
    if (!n) return out;
    for (uint64_t i = 0; i < *n; ++i) {
        const size_t start = r.pos();
        if (!ReadTransaction(r)) return {};
        out.push_back(ByteSpan{rb.raw}.subspan(start, r.pos() - start));
    }
    return out;
}

} // namespace vw::test
