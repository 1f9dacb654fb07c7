// The compact form of an opvault vault, as the store hands it to a cold start (vaults.compact: the
// database is outside bytes). Its check binds it to the vault id, which random bytes never pass:
// the input is taken as the body and sealed for a fixed id the way the encoder seals it, so the
// parser behind the check is what gets fuzzed. Whatever decodes must encode back to the same bytes
// (a form of the first version: to the current form of the same vault).
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
        const Bytes again = vault::EncodeCompactVault(*c);
        if (sealed[0] == 1) {
            // A form of the first version (no recovery scriptPubKey) is written back in the
            // current one, which must decode to the same vault.
            auto back = vault::DecodeCompactVault(id, again);
            if (!back || back->keys != c->keys || back->label != c->label || back->min_spend_delay != c->min_spend_delay ||
                back->birth_height != c->birth_height || vault::EncodeCompactVault(*back) != again) {
                __builtin_trap();
            }
        } else if (again != sealed) {
            __builtin_trap();
        }
    }
    // Unsealed, as found in a damaged row: refused, never a crash.
    (void)vault::DecodeCompactVault(id, ByteSpan{data, size});
    return 0;
}
