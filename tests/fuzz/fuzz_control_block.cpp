// Taproot control blocks from witnesses: a parsed control block serializes back to the input.
#include "script/taproot.h"

#include <cstddef>
#include <cstdint>
#include <cstdlib>

extern "C" int LLVMFuzzerTestOneInput(const uint8_t* data, size_t size)
{
    using namespace vw;
    const ByteSpan in{data, size};
    auto cb = taproot::ParseControlBlock(in);
    if (!cb) return 0;
    if (!Equal(cb->Serialize(), in)) std::abort();
    if (cb->path.size() > taproot::MAX_TREE_DEPTH) std::abort();
    (void)taproot::RootFromPath(taproot::LeafHash(cb->leaf_version, in.first(1)), cb->path);
    return 0;
}
