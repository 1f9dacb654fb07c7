// Vault families (lib/vault/family.h): registered once, their members registered a gap limit
// ahead of the highest one used, and more as deposits come (in the transaction of the block that
// brings them, so a crash cannot lose a member the chain already used).
#include "engine.h"
#include "engine_internal.h"

#include "crypto/sha256.h"
#include "rpc/family_json.h"

#include <openssl/crypto.h>

namespace vw::daemon {
namespace {

constexpr uint32_t kDefaultGap = 20;
//! A family never grows past this many members: each deposit to its last member adds gap_limit
//! vaults, so without a bound a stranger's dust could grow the registry without end.
constexpr uint32_t kMaxMembers = 1'000'000;

std::string FamilyId(const std::string& text)
{
    const Uint256 h = crypto::Sha256Once(ByteSpan{reinterpret_cast<const uint8_t*>(text.data()), text.size()});
    return "f-" + HexStr(ByteSpan{h.bytes.data(), 8});
}

Expected<uint32_t, std::string> GapLimit(const json::object& params, uint32_t def)
{
    const auto* g = params.if_contains("gap_limit");
    if (!g || g->is_null()) return def;
    if (!g->is_int64() || g->as_int64() < 1 || g->as_int64() > 10'000) return Unexpected{std::string("gap_limit: an integer in 1..10000")};
    return static_cast<uint32_t>(g->as_int64());
}

} // namespace

Expected<void, std::string> Engine::LoadFamilies()
{
    auto rows = m_store.LoadFamilies();
    if (!rows) return Unexpected{rows.error().message};
    m_families.clear();
    for (auto& r : *rows) {
        auto spec = vault::ParseFamily(r.text);
        if (!spec) return Unexpected{"corrupt database: family " + r.id + ": " + spec.error()};
        if (FamilyId(r.text) != r.id) return Unexpected{"corrupt database: family " + r.id + " is not its text's"};
        std::string id = r.id; // not r.id itself: the row is moved from before the key is made
        m_families.emplace(std::move(id), FamilyState{std::move(*spec), std::move(r)});
    }
    for (const auto& [slot, link] : m_member_of) {
        auto f = m_families.find(link.family);
        if (f == m_families.end() || link.index >= f->second.row.derived) {
            return Unexpected{"corrupt database: vault slot " + std::to_string(slot) + " is member " + std::to_string(link.index) + " of " + link.family +
                              (f == m_families.end() ? ", which is not stored" : ", which has " + std::to_string(f->second.row.derived) + " members")};
        }
    }
    return {};
}

std::vector<uint32_t> Engine::DeriveMembers(FamilyState& f, uint32_t upto, store::StateChanges& changes, std::optional<int> birth, std::string* first_error)
{
    upto = std::min(upto, kMaxMembers);
    if (upto <= f.row.derived) return {};
    json::array requests;
    std::vector<MemberLink> links;
    boost::system::error_code ec;
    const json::value policy = json::parse(f.row.policy, ec);
    for (uint32_t i = f.row.derived; i < upto; ++i) {
        auto spec = vault::MemberSpec(f.spec, i);
        if (!spec) {
            // BIP-32's skipped index (odds 2^-127): the wallet skips it too.
            log::Main()->warn("family {}: {}", f.row.id, spec.error());
            continue;
        }
        json::array leaves;
        for (const auto& l : spec->leaves) leaves.push_back(json::object{{"script", HexStr(l.script)}, {"depth", l.depth}});
        json::object reg{{"kind", "opvault"},
                         {"label", f.row.label.empty() ? json::value(nullptr) : json::value(f.row.label + " #" + std::to_string(i))},
                         {"internal_key", HexStr(spec->internal_key.span())},
                         {"leaves", std::move(leaves)},
                         {"recovery_script_pubkey", HexStr(spec->recovery_spk)}};
        if (reg.at("label").is_null()) reg.erase("label");
        if (!ec) reg["policy"] = policy;
        if (!f.row.recovery_auth.empty()) reg["recovery_auth"] = f.row.recovery_auth;
        if (birth) reg["birth_height"] = *birth;
        requests.push_back(std::move(reg));
        links.push_back({f.row.id, i});
    }
    Registered r = RegisterInto(requests, changes, &links);
    std::vector<uint32_t> added;
    for (size_t k = 0; k < requests.size(); ++k) {
        if (r.added[k]) {
            added.push_back(*r.added[k]);
        } else if (const auto* err = r.results[k].is_object() ? r.results[k].as_object().if_contains("error") : nullptr) {
            log::Main()->error("family {}: member {} not registered: {}", f.row.id, links[k].index, json::serialize(*err));
            if (first_error && first_error->empty() && err->is_object()) first_error->assign(err->at("message").as_string());
        }
    }
    f.row.derived = upto;
    changes.families.push_back(f.row);
    return added;
}

std::vector<uint32_t> Engine::ExtendFamilies(const std::vector<vault::VaultEvent>& events, store::StateChanges& changes)
{
    std::vector<uint32_t> added;
    if (m_member_of.empty()) return added;
    for (const auto& ev : events) {
        if (ev.kind != EventKind::Deposit || ev.malformed()) continue;
        for (uint32_t v : ev.vaults) {
            auto link = m_member_of.find(v);
            if (link == m_member_of.end()) continue;
            auto f = m_families.find(link->second.family);
            if (f == m_families.end()) continue;
            const uint64_t want = uint64_t{link->second.index} + 1 + f->second.row.gap_limit;
            if (want <= f->second.row.derived) continue;
            const auto more = DeriveMembers(f->second, static_cast<uint32_t>(std::min<uint64_t>(want, kMaxMembers)), changes, std::nullopt);
            if (!more.empty()) {
                log::Main()->info("family {}: a deposit to member {}: members up to {} watched", f->first, link->second.index, f->second.row.derived - 1);
            }
            if (f->second.row.derived >= kMaxMembers) log::Main()->warn("family {}: at its limit of {} members", f->first, kMaxMembers);
            added.insert(added.end(), more.begin(), more.end());
        }
    }
    return added;
}

Expected<json::value, EngineError> Engine::AddFamily(vault::FamilySpec spec, const json::object& params, std::string recovery_auth)
{
    const std::string text = vault::FormatFamily(spec);
    const std::string id = FamilyId(text);
    if (auto it = m_families.find(id); it != m_families.end()) {
        auto out = ListFamilies().as_object().at("families").as_array();
        for (auto& f : out) {
            if (f.at("family_id").as_string() == id) {
                f.as_object()["already_registered"] = true;
                return f;
            }
        }
    }
    auto gap = GapLimit(params, kDefaultGap);
    if (!gap) return Unexpected{EngineError{rpc::RPC_INVALID_PARAMETER, gap.error()}};
    store::FamilyRow row;
    row.id = id;
    row.text = text;
    if (const auto* l = params.if_contains("label"); l && l->is_string()) row.label = std::string(l->as_string());
    // Member i is labelled "<label> #i": leave room for the index within a vault label's bound.
    if (row.label.size() + 9 > rpc::MAX_LABEL_BYTES) {
        return Unexpected{EngineError{rpc::RPC_INVALID_PARAMETER, "label: at most " + std::to_string(rpc::MAX_LABEL_BYTES - 9) + " bytes for a family"}};
    }
    vault::Policy policy;
    if (const auto* p = params.if_contains("policy"); p && !p->is_null()) {
        auto parsed = rpc::ParsePolicy(*p);
        if (!parsed) return Unexpected{EngineError{rpc::RPC_INVALID_PARAMETER, "policy: " + parsed.error()}};
        policy = *parsed;
    }
    if (auto why = vault::CheckPolicy(policy, static_cast<int>(spec.spend_delay))) return Unexpected{EngineError{rpc::RPC_INVALID_PARAMETER, "policy: " + *why}};
    row.policy = json::serialize(rpc::PolicyJson(policy));
    row.recovery_auth = std::move(recovery_auth);
    row.gap_limit = *gap;
    if (const auto* b = params.if_contains("birth_height"); b && !b->is_null()) {
        if (!b->is_int64() || b->as_int64() < 0 || b->as_int64() > rpc::MAX_HEIGHT) return Unexpected{EngineError{rpc::RPC_INVALID_PARAMETER, "birth_height: not a height"}};
        row.birth_height = static_cast<int>(b->as_int64());
    }
    row.created_at = Now();
    FamilyState f{std::move(spec), std::move(row)};
    store::StateChanges changes;
    // Member 0 first: what is wrong with one member (the policy, the key) is wrong with all.
    const uint32_t first = f.row.gap_limit;
    auto member0 = vault::MemberSpec(f.spec, 0);
    if (!member0) return Unexpected{EngineError{rpc::RPC_INVALID_PARAMETER, member0.error()}};
    if (f.row.recovery_auth.empty() && f.spec.recovery_auth_key) {
        log::Main()->warn("family {}: no recovery-auth secret: its members' recover leaf needs one, so the tower alerts but cannot sweep", id);
    }
    auto& slot = m_families.emplace(id, std::move(f)).first->second;
    const size_t before = changes.vaults.size();
    std::string why;
    DeriveMembers(slot, first, changes, slot.row.birth_height, &why);
    if (changes.vaults.size() == before) {
        m_families.erase(id);
        return Unexpected{EngineError{rpc::RPC_INVALID_PARAMETER, "no member of the family can be registered: " + why}};
    }
    if (auto r = m_store.Apply(changes); !r) {
        m_families.erase(id);
        if (auto rb = Rebuild(); !rb) log::Main()->critical("{}", rb.error());
        return Unexpected{EngineError{rpc::RPC_MISC_ERROR, "cannot store the family: " + r.error().message}};
    }
    for (const auto& r : changes.rescans) {
        m_rescans.emplace(r.id, r);
        m_last_rescan_id = std::max(m_last_rescan_id, r.id);
    }
    StartRescans();
    log::Main()->info("family {} registered: members 0..{} watched", id, slot.row.derived - 1);
    json::value all = ListFamilies();
    for (auto& out : all.as_object().at("families").as_array()) {
        if (out.at("family_id").as_string() == id) return out;
    }
    return json::value(nullptr);
}

Expected<json::value, EngineError> Engine::RegisterFamily(const json::object& params)
{
    const auto* text = params.if_contains("family");
    if (!text || !text->is_string()) return Unexpected{EngineError{rpc::RPC_INVALID_PARAMETER, "family: the family's text form (opvault(...)#checksum)"}};
    auto spec = vault::ParseFamily(std::string_view{text->as_string()});
    if (!spec) return Unexpected{EngineError{rpc::RPC_INVALID_PARAMETER, "family: " + spec.error()}};
    std::string secret;
    if (const auto* a = params.if_contains("recovery_auth"); a && !a->is_null()) {
        auto b = a->is_string() ? ParseHex(std::string_view{a->as_string()}) : std::nullopt;
        auto kp = b ? crypto::KeyPair::FromSecret(*b) : std::nullopt;
        if (!kp) return Unexpected{EngineError{rpc::RPC_INVALID_PARAMETER, "recovery_auth: not a 32-byte secret key"}};
        if (!spec->recovery_auth_key || !(kp->PubKey() == *spec->recovery_auth_key)) {
            return Unexpected{EngineError{rpc::RPC_INVALID_PARAMETER, "recovery_auth: not the secret of the family's recovery-auth key"}};
        }
        secret = std::string(a->as_string());
    }
    return AddFamily(std::move(*spec), params, std::move(secret));
}

Expected<json::value, EngineError> Engine::ImportVaultWallet(const json::object& params)
{
    const auto* cfg = params.if_contains("config");
    if (!cfg) return Unexpected{EngineError{rpc::RPC_INVALID_PARAMETER, "config: opvault-demo's config.json (its JSON, as an object or a string)"}};
    json::value file = *cfg;
    if (cfg->is_string()) {
        boost::system::error_code ec;
        file = json::parse(std::string_view{cfg->as_string()}, ec);
        if (ec) return Unexpected{EngineError{rpc::RPC_INVALID_PARAMETER, "config: not JSON: " + ec.message()}};
    }
    auto wallet = rpc::ParseOpvaultDemoConfig(file);
    if (!wallet) return Unexpected{EngineError{rpc::RPC_INVALID_PARAMETER, wallet.error()}};
    std::string secret;
    bool alert_only = true;
    if (const auto* phrase = params.if_contains("recovery_phrase"); phrase && !phrase->is_null()) {
        if (!phrase->is_string()) return Unexpected{EngineError{rpc::RPC_INVALID_PARAMETER, "recovery_phrase: a string"}};
        auto s = rpc::OpvaultDemoRecoveryAuthSecret(std::string_view{phrase->as_string()});
        auto kp = crypto::KeyPair::FromSecret(s);
        const bool matches = kp && kp->PubKey() == wallet->recoveryauth_pubkey;
        if (matches) secret = HexStr(s);
        OPENSSL_cleanse(s.data(), s.size());
        if (!matches) return Unexpected{EngineError{rpc::RPC_INVALID_PARAMETER, "recovery_phrase: it does not give this wallet's recovery-auth key"}};
        alert_only = false;
    }
    json::object p = params;
    p.erase("recovery_phrase");
    if (!p.contains("gap_limit")) p["gap_limit"] = 200; // the wallet's own look-ahead
    if (!p.contains("birth_height") && wallet->birthday_height) p["birth_height"] = *wallet->birthday_height;
    if (!p.contains("policy")) {
        // The wallet broadcasts its owner's withdrawal seconds after planning it: with "recover" the
        // tower would sweep it unless approved first. "delayed" alerts at once and recovers only
        // after a grace period the owner can approve within (docs/vault-families.md).
        const int delay = static_cast<int>(wallet->family.spend_delay);
        const int grace = std::min(delay / 2, delay - vault::MIN_RECOVERY_WINDOW);
        p["policy"] = grace >= 1 ? json::value(json::object{{"mode", "delayed"}, {"grace_blocks", grace}}) : json::value(json::object{{"mode", "recover"}});
    }
    auto out = AddFamily(std::move(wallet->family), p, std::move(secret));
    if (out && out->is_object() && alert_only) {
        out->as_object()["warning"] = "no recovery_phrase: the tower alerts on a theft but cannot sweep (the recover leaf needs the recovery-auth key)";
    }
    return out;
}

json::value Engine::ListFamilies() const
{
    json::array out;
    for (const auto& [id, f] : m_families) {
        boost::system::error_code ec;
        const json::value policy = json::parse(f.row.policy, ec);
        out.push_back(json::object{{"family_id", id},
                                   {"family", f.row.text},
                                   {"label", f.row.label},
                                   {"gap_limit", f.row.gap_limit},
                                   {"members", f.row.derived},
                                   {"policy", ec ? json::value(nullptr) : policy},
                                   {"recovers", !f.spec.recovery_auth_key || !f.row.recovery_auth.empty()},
                                   {"birth_height", f.row.birth_height ? json::value(*f.row.birth_height) : json::value(nullptr)}});
    }
    return json::object{{"families", std::move(out)}};
}

} // namespace vw::daemon
