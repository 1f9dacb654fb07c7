#include "rpc/family_json.h"

#include "crypto/hmac.h"
#include "util/hex.h"

#include <boost/json.hpp>

namespace vw::rpc {
namespace json = boost::json;

namespace {
//! opvault-demo's JSON for bytes: {"__hex": "<hex>"}.
Expected<crypto::XOnlyPubKey, std::string> HexKey(const json::object& o, const char* field)
{
    const auto* v = o.if_contains(field);
    const json::value* hex = v && v->is_object() ? v->as_object().if_contains("__hex") : nullptr;
    if (!hex || !hex->is_string()) return Unexpected{std::string("config.") + field + ": missing (want {\"__hex\": \"<64 hex>\"})"};
    auto b = ParseHex(std::string_view{hex->as_string()});
    auto k = b ? crypto::XOnlyPubKey::Parse(*b) : std::nullopt;
    if (!k) return Unexpected{std::string("config.") + field + ": not a 32-byte x-only public key"};
    return *k;
}
} // namespace

Expected<OpvaultDemoWallet, std::string> ParseOpvaultDemoConfig(const json::value& file)
{
    if (!file.is_object()) return Unexpected{std::string("the wallet config must be a JSON object")};
    const json::object* c = &file.as_object();
    if (const auto* inner = c->if_contains("config")) {
        if (!inner->is_object()) return Unexpected{std::string("config: not an object")};
        c = &inner->as_object();
    }
    if (const auto* cls = c->if_contains("_class"); cls && (!cls->is_string() || cls->as_string() != "VaultConfig")) {
        return Unexpected{std::string("config._class: not a VaultConfig")};
    }
    auto recovery = HexKey(*c, "recovery_pubkey");
    if (!recovery) return Unexpected{recovery.error()};
    auto auth = HexKey(*c, "recoveryauth_pubkey");
    if (!auth) return Unexpected{auth.error()};
    const auto* delay = c->if_contains("spend_delay");
    if (!delay || !delay->is_int64()) return Unexpected{std::string("config.spend_delay: missing or not an integer")};
    const auto* xpub = c->if_contains("trigger_xpub");
    if (!xpub || !xpub->is_string()) return Unexpected{std::string("config.trigger_xpub: missing or not a string")};
    std::string prefix = "m/0"; // the wallet's default
    if (const auto* p = c->if_contains("trigger_xpub_path_prefix")) {
        if (!p->is_string()) return Unexpected{std::string("config.trigger_xpub_path_prefix: not a string")};
        prefix = std::string(p->as_string());
    }
    auto family = vault::OpvaultDemoFamily(*recovery, *auth, delay->as_int64(), std::string_view{xpub->as_string()}, prefix);
    if (!family) return Unexpected{"config: " + family.error()};
    OpvaultDemoWallet w{std::move(*family), *auth, std::nullopt};
    if (const auto* b = c->if_contains("birthday_height"); b && !b->is_null()) {
        if (!b->is_int64() || b->as_int64() < 0 || b->as_int64() > 100'000'000) return Unexpected{std::string("config.birthday_height: not a height")};
        w.birthday_height = static_cast<int>(b->as_int64());
    }
    return w;
}

std::array<uint8_t, 32> OpvaultDemoRecoveryAuthSecret(std::string_view phrase) { return crypto::Pbkdf2HmacSha256(phrase, "OP_VAULT", 3'000'000); }

} // namespace vw::rpc
