// Vault family inputs an operator (or a wallet file) hands over: the family text form, an
// extended public key, Base58Check, a descriptor checksum, opvault-demo's config.json.
#include "crypto/base58.h"
#include "crypto/bip32.h"
#include "rpc/family_json.h"
#include "util/descriptor_checksum.h"
#include "vault/family.h"

#include <boost/json.hpp>

#include <cstddef>
#include <cstdint>
#include <string_view>

extern "C" int LLVMFuzzerTestOneInput(const uint8_t* data, size_t size)
{
    const std::string_view s{reinterpret_cast<const char*>(data), size};
    (void)vw::DecodeBase58Check(s);
    (void)vw::CheckDescriptorChecksum(s, false);
    (void)vw::crypto::ParseBip32Path(s);
    if (auto k = vw::crypto::ExtPubKey::Parse(s)) {
        (void)k->Derive(0);
        (void)k->Encode();
    }
    if (auto f = vw::vault::ParseFamily(s)) {
        // What parses must print back as itself and derive (or say why not).
        auto again = vw::vault::ParseFamily(vw::vault::FormatFamily(*f));
        if (!again || !(*again == *f)) __builtin_trap();
        (void)vw::vault::MemberSpec(*f, 7);
    }
    boost::system::error_code ec;
    const boost::json::value v = boost::json::parse(s, ec);
    if (!ec) (void)vw::rpc::ParseOpvaultDemoConfig(v);
    return 0;
}
