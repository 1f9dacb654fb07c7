// The compact form of an opvault vault, as the store hands it to a cold start (vaults.compact: the
// database is outside bytes). Its check binds it to the vault id, which random bytes never pass:
// the input is taken as the body and sealed for a fixed id the way the encoder seals it, so the
// parser behind the check is what gets fuzzed. Whatever decodes must encode back to the same bytes.
#include "crypto/sha256.h"
#include "vault/registry.h"

#include <cstddef>
#include <cstdint>
#include <string>

extern "C" int LLVMFuzzerTestOneInput(const uint8_t* data, size_t size)
{
    using namespace vw;
    static const vault::VaultId id = *vault::VaultId::Parse("v-0123456789abcdef");
    static const crypto::TaggedHash tag{"vaultwatch/CompactVault"};
    const std::string id_text = id.str();
    Bytes sealed(data, data + size);
    const Uint256 check = tag.Hasher().Write(ByteSpan{reinterpret_cast<const uint8_t*>(id_text.data()), id_text.size()}).Write(sealed).Finalize();
    sealed.insert(sealed.end(), check.bytes.begin(), check.bytes.begin() + 8);
    if (auto c = vault::DecodeCompactVault(id, sealed)) {
        if (vault::EncodeCompactVault(*c) != sealed) __builtin_trap();
    }
    // Unsealed, as found in a damaged row: refused, never a crash.
    (void)vault::DecodeCompactVault(id, ByteSpan{data, size});
    return 0;
}
