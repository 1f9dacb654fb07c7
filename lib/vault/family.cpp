#include "vault/family.h"

#include "crypto/sha256.h"
#include "util/check.h"
#include "util/descriptor_checksum.h"
#include "util/hex.h"

#include <charconv>

namespace vw::vault {

crypto::XOnlyPubKey KeyPathOnlyOutputKey(const crypto::XOnlyPubKey& k)
{
    const Uint256 t = crypto::TapTweakTag()(k.span());
    auto q = crypto::TweakAdd(k, t);
    // A tagged hash below the group order and a sum that is not infinity: failing either is
    // finding a SHA-256 preimage.
    VW_ASSERT(q.has_value());
    return crypto::XOnlyPubKey::FromTrusted(q->xonly);
}

Expected<VaultSpec, std::string> MemberSpec(const FamilySpec& f, uint32_t index)
{
    std::vector<uint32_t> path = f.trigger_path;
    path.push_back(index);
    auto child = f.trigger_xpub.Derive(path);
    if (!child) return Unexpected{"member " + std::to_string(index) + ": " + std::string(crypto::ToString(child.error()))};
    if (f.spend_delay < 1 || f.spend_delay > 0xffff) return Unexpected{std::string("spend delay out of range 1..65535")};
    VaultSpec spec{f.internal_key, {}, f.recovery_spk, f.recovery_auth_key};
    spec.leaves = {taproot::Leaf{MakeRecoverLeaf(RecoverySpkHash(f.recovery_spk), f.recovery_auth_key), 1},
                   taproot::Leaf{MakeTriggerLeaf(child->key.XOnly(), f.spend_delay), 1}};
    return spec;
}

std::string FormatFamily(const FamilySpec& f)
{
    std::string s = "opvault(" + HexStr(f.internal_key.span()) + "," + HexStr(f.recovery_spk) + "," +
                    (f.recovery_auth_key ? HexStr(f.recovery_auth_key->span()) : std::string("noauth")) + "," + std::to_string(f.spend_delay) +
                    "," + f.trigger_xpub.Encode();
    for (uint32_t step : f.trigger_path) s += "/" + std::to_string(step);
    s += "/*)";
    return *AddDescriptorChecksum(s); // every character above is in the descriptor set
}

namespace {
std::vector<std::string_view> SplitTopLevel(std::string_view s)
{
    std::vector<std::string_view> out;
    size_t start = 0;
    for (size_t i = 0; i <= s.size(); ++i) {
        if (i == s.size() || s[i] == ',') {
            out.push_back(s.substr(start, i - start));
            start = i + 1;
        }
    }
    return out;
}
} // namespace

Expected<FamilySpec, std::string> ParseFamily(std::string_view text)
{
    auto body = CheckDescriptorChecksum(text, /*require=*/true);
    if (!body) return Unexpected{std::string("the checksum is missing or wrong (a mistyped or cut family is refused)")};
    if (!body->starts_with("opvault(") || !body->ends_with(")")) return Unexpected{std::string("not an opvault(...) family")};
    const auto args = SplitTopLevel(body->substr(8, body->size() - 9));
    if (args.size() != 5) return Unexpected{"expected 5 arguments, got " + std::to_string(args.size())};
    auto key = [](std::string_view h, const char* what) -> Expected<crypto::XOnlyPubKey, std::string> {
        auto b = ParseHex(h);
        auto k = b ? crypto::XOnlyPubKey::Parse(*b) : std::nullopt;
        if (!k) return Unexpected{std::string(what) + ": not a 32-byte x-only public key"};
        return *k;
    };
    auto internal = key(args[0], "internal key");
    if (!internal) return Unexpected{internal.error()};
    auto spk = ParseHex(args[1]);
    if (!spk || spk->empty() || spk->size() > 10'000) return Unexpected{std::string("recovery scriptPubKey: not hex")};
    std::optional<crypto::XOnlyPubKey> auth;
    if (args[2] != "noauth") {
        auto a = key(args[2], "recovery-auth key");
        if (!a) return Unexpected{a.error()};
        auth = *a;
    }
    int64_t delay = 0;
    auto [p, ec] = std::from_chars(args[3].data(), args[3].data() + args[3].size(), delay);
    if (ec != std::errc{} || p != args[3].data() + args[3].size() || delay < 1 || delay > 0xffff) {
        return Unexpected{std::string("spend delay: not a number of blocks in 1..65535")};
    }
    std::string_view keyexpr = args[4];
    if (!keyexpr.ends_with("/*")) return Unexpected{std::string("trigger keys: the xpub path must end in /* (the member index)")};
    keyexpr.remove_suffix(2);
    const size_t slash = keyexpr.find('/');
    auto xpub = crypto::ExtPubKey::Parse(keyexpr.substr(0, slash));
    if (!xpub) return Unexpected{"trigger xpub: " + std::string(crypto::ToString(xpub.error()))};
    std::vector<uint32_t> path;
    if (slash != std::string_view::npos) {
        auto parsed = crypto::ParseBip32Path(keyexpr.substr(slash + 1));
        if (!parsed) return Unexpected{std::string("trigger path: malformed")};
        path = std::move(*parsed);
        for (uint32_t step : path) {
            if (step & crypto::kHardened) return Unexpected{std::string("trigger path: a hardened step cannot be derived from an xpub")};
        }
    }
    FamilySpec f{*internal, std::move(*spk), auth, delay, std::move(*xpub), std::move(path)};
    if (auto m = MemberSpec(f, 0); !m && m.error().find("spend delay") != std::string::npos) return Unexpected{m.error()};
    return f;
}

Expected<FamilySpec, std::string> OpvaultDemoFamily(const crypto::XOnlyPubKey& recovery_pubkey, const crypto::XOnlyPubKey& recoveryauth_pubkey,
                                                    int64_t spend_delay, std::string_view trigger_xpub, std::string_view path_prefix)
{
    auto xpub = crypto::ExtPubKey::Parse(trigger_xpub);
    if (!xpub) return Unexpected{"trigger_xpub: " + std::string(crypto::ToString(xpub.error()))};
    auto path = crypto::ParseBip32Path(path_prefix);
    if (!path) return Unexpected{"trigger_xpub_path_prefix: malformed: " + std::string(path_prefix)};
    for (uint32_t step : *path) {
        if (step & crypto::kHardened) return Unexpected{std::string("trigger_xpub_path_prefix: a hardened step cannot be derived from an xpub")};
    }
    if (spend_delay < 1 || spend_delay > 0xffff) return Unexpected{std::string("spend_delay: out of range 1..65535")};
    const crypto::XOnlyPubKey k = KeyPathOnlyOutputKey(recovery_pubkey);
    Bytes spk{0x51, 0x20};
    spk.insert(spk.end(), k.bytes().begin(), k.bytes().end());
    return FamilySpec{k, std::move(spk), recoveryauth_pubkey, spend_delay, std::move(*xpub), std::move(*path)};
}

} // namespace vw::vault
