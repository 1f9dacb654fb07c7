// PSBTs an operator hands over for pre-signed vaults (BIP-174): raw bytes and base64, and the
// extractor on whatever parses.
#include "primitives/psbt.h"

#include <cstddef>
#include <cstdint>
#include <string_view>

extern "C" int LLVMFuzzerTestOneInput(const uint8_t* data, size_t size)
{
    if (auto p = vw::DecodePsbt(vw::ByteSpan{data, size})) {
        if (p->inputs.size() != p->unsigned_tx.vin.size()) __builtin_trap();
        (void)vw::ExtractTransaction(*p);
    }
    if (auto p = vw::DecodePsbtBase64(std::string_view{reinterpret_cast<const char*>(data), size})) (void)vw::ExtractTransaction(*p);
    return 0;
}
