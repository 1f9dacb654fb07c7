#include "rpc/vault_json.h"

#include "primitives/psbt.h"

#include "script/taproot.h"
#include "util/hex.h"

#include <boost/json.hpp>
#include <openssl/crypto.h>

#include <algorithm>
#include <array>
#include <limits>

namespace vw::rpc {
namespace json = boost::json;

namespace {

using E = Unexpected<std::string>;
template <typename T>
using R = Expected<T, std::string>;

// --- paths and messages -------------------------------------------------------------------------

std::string Field(std::string_view path, std::string_view name)
{
    std::string r{path};
    if (!r.empty()) r += '.';
    r += name;
    return r;
}

std::string Item(std::string_view path, size_t i) { return std::string{path} + "[" + std::to_string(i) + "]"; }

//! A client-supplied key made safe to put in a message: printable ASCII, at most 40 characters.
std::string SafeKey(std::string_view k)
{
    std::string r;
    for (char c : k.substr(0, 40)) {
        const auto u = static_cast<unsigned char>(c);
        r += (u >= 0x20 && u < 0x7f && c != '"' && c != '\\') ? c : '?';
    }
    if (k.size() > 40) r += "...";
    return r;
}

std::string TypeName(const json::value& v)
{
    switch (v.kind()) {
    case json::kind::null: return "null";
    case json::kind::bool_: return "boolean";
    case json::kind::int64:
    case json::kind::uint64: return "integer";
    case json::kind::double_: return "number";
    case json::kind::string: return "string";
    case json::kind::array: return "array";
    case json::kind::object: return "object";
    }
    return "?";
}

std::string Wrong(std::string_view where, std::string_view want, const json::value& v)
{
    return std::string{where} + ": must be " + std::string{want} + ", got " + TypeName(v);
}

// --- field access -------------------------------------------------------------------------------

//! Returns: the member, or nullptr if absent or null.
const json::value* Get(const json::object& o, std::string_view k)
{
    auto it = o.find(k);
    if (it == o.end() || it->value().is_null()) return nullptr;
    return &it->value();
}

R<const json::value*> Need(const json::object& o, std::string_view path, std::string_view k, std::string_view why = {})
{
    const json::value* v = Get(o, k);
    if (!v) return E{Field(path, k) + ": missing" + (why.empty() ? std::string{} : " (" + std::string{why} + ")")};
    return v;
}

//! Returns: an error naming the first member of o not in allowed.
std::optional<std::string> CheckKnown(const json::object& o, std::string_view path, std::span<const std::string_view> allowed,
                                      std::string_view context = {})
{
    for (const auto& kv : o) {
        const std::string_view k{kv.key()};
        if (std::find(allowed.begin(), allowed.end(), k) != allowed.end()) continue;
        std::string msg = path.empty() ? std::string{} : std::string{path} + ": ";
        msg += "unknown field \"" + SafeKey(k) + "\"";
        if (!context.empty()) msg += " " + std::string{context};
        msg += " (expected one of:";
        for (size_t i = 0; i < allowed.size(); ++i) msg += (i ? ", " : " ") + std::string{allowed[i]};
        msg += ")";
        return msg;
    }
    return std::nullopt;
}

R<int64_t> Int(const json::value& v, std::string_view where, int64_t lo, int64_t hi)
{
    const std::string range = "an integer between " + std::to_string(lo) + " and " + std::to_string(hi);
    int64_t x;
    if (v.is_int64()) {
        x = v.get_int64();
    } else if (v.is_uint64()) {
        if (v.get_uint64() > static_cast<uint64_t>(std::numeric_limits<int64_t>::max())) return E{std::string{where} + ": must be " + range};
        x = static_cast<int64_t>(v.get_uint64());
    } else {
        return E{Wrong(where, range, v)};
    }
    if (x < lo || x > hi) return E{std::string{where} + ": must be " + range + ", got " + std::to_string(x)};
    return x;
}

R<std::string_view> Str(const json::value& v, std::string_view where)
{
    if (!v.is_string()) return E{Wrong(where, "a string", v)};
    return std::string_view{v.get_string()};
}

R<const json::object*> Obj(const json::value& v, std::string_view where)
{
    if (!v.is_object()) return E{Wrong(where, "an object", v)};
    return &v.get_object();
}

R<const json::array*> Arr(const json::value& v, std::string_view where, size_t min_items, size_t max_items)
{
    if (!v.is_array()) return E{Wrong(where, "an array", v)};
    const auto& a = v.get_array();
    if (a.size() < min_items) return E{std::string{where} + ": must list at least " + std::to_string(min_items) + " item(s)"};
    if (a.size() > max_items) {
        return E{std::string{where} + ": too many items (" + std::to_string(a.size()) + "; at most " + std::to_string(max_items) + ")"};
    }
    return &a;
}

bool IsHexDigit(char c) { return (c >= '0' && c <= '9') || (c >= 'a' && c <= 'f') || (c >= 'A' && c <= 'F'); }

//! Checks a hex string: not hex, odd length, too long, empty. Values are never echoed.
R<std::string_view> HexStrField(const json::value& v, std::string_view where, size_t max_bytes)
{
    auto s = Str(v, where);
    if (!s) return E{s.error()};
    if (s->size() > 2 * max_bytes) {
        return E{std::string{where} + ": too long (" + std::to_string(s->size()) + " hex digits; at most " +
                 std::to_string(2 * max_bytes) + ")"};
    }
    if (s->empty()) return E{std::string{where} + ": empty"};
    if (!std::all_of(s->begin(), s->end(), IsHexDigit)) return E{std::string{where} + ": not hex"};
    if (s->size() % 2 != 0) return E{std::string{where} + ": odd number of hex digits"};
    return *s;
}

R<Bytes> HexBytes(const json::value& v, std::string_view where, size_t max_bytes)
{
    auto s = HexStrField(v, where, max_bytes);
    if (!s) return E{s.error()};
    auto b = ParseHex(*s);
    if (!b) return E{std::string{where} + ": not hex"}; // unreachable after the checks above
    return std::move(*b);
}

//! 32 bytes as 64 hex digits, serialization order.
R<Uint256> Hash32(const json::value& v, std::string_view where, std::string_view what = "32 bytes")
{
    auto s = HexStrField(v, where, 32);
    if (!s) return E{s.error()};
    if (s->size() != 64) return E{std::string{where} + ": must be " + std::string{what} + " (64 hex digits), got " + std::to_string(s->size()) + " hex digits"};
    auto u = Uint256::FromHex(*s);
    if (!u) return E{std::string{where} + ": not hex"};
    return *u;
}

R<Txid> TxidField(const json::value& v, std::string_view where)
{
    auto u = Hash32(v, where, "a txid");
    if (!u) return E{u.error()};
    // Display order in JSON: reverse into serialization order.
    std::reverse(u->bytes.begin(), u->bytes.end());
    return Txid::FromUint256(*u);
}

R<OutPoint> OutPointField(const json::value& v, std::string_view where)
{
    auto o = Obj(v, where);
    if (!o) return E{o.error()};
    static constexpr std::array<std::string_view, 2> known{"txid", "vout"};
    if (auto err = CheckKnown(**o, where, known)) return E{*err};
    auto tv = Need(**o, where, "txid");
    if (!tv) return E{tv.error()};
    auto txid = TxidField(**tv, Field(where, "txid"));
    if (!txid) return E{txid.error()};
    auto nv = Need(**o, where, "vout");
    if (!nv) return E{nv.error()};
    auto n = Int(**nv, Field(where, "vout"), 0, std::numeric_limits<uint32_t>::max());
    if (!n) return E{n.error()};
    return OutPoint{*txid, static_cast<uint32_t>(*n)};
}

//! Raw transaction hex (decoded later by ValidatePresigned).
R<std::string> TxHexField(const json::value& v, std::string_view where)
{
    // A finalized PSBT (base64, as PSBT-based tools hand it over) stands for its transaction.
    if (v.is_string() && LooksLikePsbtBase64(std::string_view{v.as_string()})) {
        auto p = DecodePsbtBase64(std::string_view{v.as_string()});
        if (!p) return E{std::string(where) + ": a PSBT that does not parse: " + p.error()};
        auto tx = ExtractTransaction(*p);
        if (!tx) return E{std::string(where) + ": a PSBT " + tx.error()};
        return HexStr(SerializeTransaction(*tx));
    }
    auto s = HexStrField(v, where, MAX_TX_HEX_CHARS / 2);
    if (!s) return E{s.error()};
    return std::string{*s};
}

R<std::vector<std::string>> TxHexList(const json::value& v, std::string_view where, size_t min_items)
{
    auto a = Arr(v, where, min_items, MAX_JSON_ARRAY_ITEMS);
    if (!a) return E{a.error()};
    std::vector<std::string> r;
    r.reserve((*a)->size());
    for (size_t i = 0; i < (*a)->size(); ++i) {
        auto h = TxHexField((**a)[i], Item(where, i));
        if (!h) return E{h.error()};
        r.push_back(std::move(*h));
    }
    return r;
}

// --- label --------------------------------------------------------------------------------------

//! Returns: whether s is well-formed UTF-8 with no control characters (C0, DEL, C1), no line or
//! paragraph separators and no bidirectional overrides/isolates (they make logs lie).
bool IsCleanUtf8(std::string_view s)
{
    size_t i = 0;
    while (i < s.size()) {
        const auto b0 = static_cast<unsigned char>(s[i]);
        uint32_t cp;
        size_t len;
        if (b0 < 0x80) {
            cp = b0;
            len = 1;
        } else if ((b0 & 0xe0) == 0xc0) {
            cp = b0 & 0x1fu;
            len = 2;
        } else if ((b0 & 0xf0) == 0xe0) {
            cp = b0 & 0x0fu;
            len = 3;
        } else if ((b0 & 0xf8) == 0xf0) {
            cp = b0 & 0x07u;
            len = 4;
        } else {
            return false;
        }
        if (i + len > s.size()) return false;
        for (size_t k = 1; k < len; ++k) {
            const auto b = static_cast<unsigned char>(s[i + k]);
            if ((b & 0xc0) != 0x80) return false;
            cp = (cp << 6) | (b & 0x3fu);
        }
        static constexpr std::array<uint32_t, 5> min_for_len{0, 0, 0x80, 0x800, 0x10000};
        if (cp < min_for_len[len] || cp > 0x10ffff || (cp >= 0xd800 && cp <= 0xdfff)) return false; // overlong, range, surrogate
        if (cp < 0x20 || (cp >= 0x7f && cp <= 0x9f)) return false;
        if (cp == 0x2028 || cp == 0x2029 || (cp >= 0x202a && cp <= 0x202e) || (cp >= 0x2066 && cp <= 0x2069)) return false;
        i += len;
    }
    return true;
}

R<std::string> LabelField(const json::value& v)
{
    auto s = Str(v, "label");
    if (!s) return E{s.error()};
    if (s->size() > MAX_LABEL_BYTES) {
        return E{"label: too long (" + std::to_string(s->size()) + " bytes; at most " + std::to_string(MAX_LABEL_BYTES) + ")"};
    }
    if (!IsCleanUtf8(*s)) return E{std::string{"label: must be UTF-8 text without control characters"}};
    return std::string{*s};
}

// --- secrets ------------------------------------------------------------------------------------

//! Bytes wiped on destruction.
struct SecretBytes {
    Bytes b;
    ~SecretBytes()
    {
        if (!b.empty()) OPENSSL_cleanse(b.data(), b.size());
    }
};

R<crypto::KeyPair> SecretKeyField(const json::value& v, std::string_view where)
{
    // Length and alphabet are checked without looking at (or echoing) the digits' values.
    if (!v.is_string()) return E{Wrong(where, "a 32-byte secret key (64 hex digits)", v)};
    const std::string_view s{v.get_string()};
    if (s.size() != 64 || !std::all_of(s.begin(), s.end(), IsHexDigit)) {
        return E{std::string{where} + ": must be a 32-byte secret key (64 hex digits)"};
    }
    SecretBytes sb;
    if (auto b = ParseHex(s)) sb.b = std::move(*b);
    auto kp = crypto::KeyPair::FromSecret(sb.b);
    if (!kp) return E{std::string{where} + ": not a valid secret key (zero, or not below the curve order)"};
    return std::move(*kp);
}

// --- common registration fields -----------------------------------------------------------------

struct Common {
    std::string label;
    vault::Policy policy;
    std::optional<int> birth_height;
};

R<Common> ParseCommon(const json::object& o)
{
    Common c;
    if (const auto* v = Get(o, "label")) {
        auto l = LabelField(*v);
        if (!l) return E{l.error()};
        c.label = std::move(*l);
    }
    if (const auto* v = Get(o, "policy")) {
        auto p = ParsePolicy(*v);
        if (!p) return E{p.error()};
        c.policy = *p;
    }
    if (const auto* v = Get(o, "birth_height")) {
        auto h = Int(*v, "birth_height", 0, MAX_HEIGHT);
        if (!h) return E{h.error()};
        c.birth_height = static_cast<int>(*h);
    }
    return c;
}

constexpr std::array<std::string_view, 8> OPVAULT_FIELDS{"kind",   "label",        "policy", "birth_height", "internal_key",
                                                         "leaves", "recovery_script_pubkey", "recovery_auth"};
constexpr std::array<std::string_view, 7> PRESIGNED_FIELDS{"kind",            "label",    "policy",       "birth_height",
                                                           "watch_outpoints", "triggers", "emergency_txs"};
constexpr std::array<std::string_view, 10> CCV_FIELDS{"kind",       "label",      "policy",          "birth_height",  "construction",
                                                      "spend_delay", "recover_pk", "unvault_pk", "partial_revault", "early_recover"};

R<vault::CcvRegistration> ParseCcv(const json::object& o, Common c)
{
    constexpr std::string_view why = "required for kind \"ccv\"";
    auto cv = Need(o, "", "construction", why);
    if (!cv) return E{cv.error()};
    auto cs = Str(**cv, "construction");
    if (!cs) return E{cs.error()};
    auto construction = vault::ccv::ParseConstruction(*cs);
    if (!construction) {
        return E{std::string{"construction: must be \"ctv\" (the unvaulting output commits to a CTV template hash, "
                             "pymatt's MATT vault) or \"withdrawal-key\" (it commits to a withdrawal key)"}};
    }
    auto dv = Need(o, "", "spend_delay", why);
    if (!dv) return E{dv.error()};
    auto delay = Int(**dv, "spend_delay", 1, 65535);
    if (!delay) return E{delay.error()};
    auto key = [&](std::string_view name) -> R<crypto::XOnlyPubKey> {
        auto v = Need(o, "", name, why);
        if (!v) return E{v.error()};
        auto b = Hash32(**v, name, "an x-only public key");
        if (!b) return E{b.error()};
        auto k = crypto::XOnlyPubKey::Parse(b->span());
        if (!k) return E{std::string{name} + ": not a valid x-only public key (not on the curve)"};
        return *k;
    };
    auto recover = key("recover_pk");
    if (!recover) return E{recover.error()};
    auto unvault = key("unvault_pk");
    if (!unvault) return E{unvault.error()};
    vault::ccv::Params p{*construction, std::nullopt, *delay, *recover, *unvault};
    for (auto [name, flag] : {std::pair{"partial_revault", &p.partial_revault}, std::pair{"early_recover", &p.early_recover}}) {
        if (const auto* v = Get(o, name)) {
            if (!v->is_bool()) return E{std::string{name} + ": must be true or false"};
            *flag = v->get_bool();
        }
    }
    return vault::CcvRegistration{std::move(p), std::move(c.label), c.policy, c.birth_height};
}

json::object CcvJson(const vault::ccv::Params& p)
{
    json::object o;
    o["construction"] = ToString(p.construction);
    o["spend_delay"] = p.spend_delay;
    o["recover_pk"] = HexStr(p.recover_key.span());
    o["unvault_pk"] = HexStr(p.unvault_key.span());
    o["partial_revault"] = p.partial_revault;
    o["early_recover"] = p.early_recover;
    return o;
}

R<vault::OpVaultRegistration> ParseOpVault(const json::object& o, Common c, const std::optional<crypto::TweakedKey>& stored_output_key)
{
    constexpr std::string_view why = "required for kind \"opvault\"";
    auto kv = Need(o, "", "internal_key", why);
    if (!kv) return E{kv.error()};
    auto kb = Hash32(**kv, "internal_key", "an x-only public key");
    if (!kb) return E{kb.error()};
    auto internal = stored_output_key ? std::optional{crypto::XOnlyPubKey::FromTrusted(kb->span())} : crypto::XOnlyPubKey::Parse(kb->span());
    if (!internal) return E{std::string{"internal_key: not a valid x-only public key (not on the curve)"}};

    auto lv = Need(o, "", "leaves", why);
    if (!lv) return E{lv.error()};
    auto la = Arr(**lv, "leaves", 1, MAX_JSON_ARRAY_ITEMS);
    if (!la) return E{la.error()};
    std::vector<taproot::Leaf> leaves;
    leaves.reserve((*la)->size());
    static constexpr std::array<std::string_view, 3> leaf_fields{"script", "depth", "leaf_version"};
    for (size_t i = 0; i < (*la)->size(); ++i) {
        const std::string where = Item("leaves", i);
        auto lo = Obj((**la)[i], where);
        if (!lo) return E{lo.error()};
        if (auto err = CheckKnown(**lo, where, leaf_fields)) return E{*err};
        taproot::Leaf leaf;
        auto sv = Need(**lo, where, "script");
        if (!sv) return E{sv.error()};
        auto script = HexBytes(**sv, Field(where, "script"), vault::MAX_LEAF_SCRIPT_SIZE);
        if (!script) return E{script.error()};
        leaf.script = std::move(*script);
        auto dv = Need(**lo, where, "depth");
        if (!dv) return E{dv.error()};
        auto depth = Int(**dv, Field(where, "depth"), 0, static_cast<int64_t>(taproot::MAX_TREE_DEPTH));
        if (!depth) return E{depth.error()};
        leaf.depth = static_cast<int>(*depth);
        if (const auto* vv = Get(**lo, "leaf_version")) {
            auto ver = Int(*vv, Field(where, "leaf_version"), 0, 254);
            if (!ver) return E{ver.error()};
            if (*ver % 2 != 0 || *ver == taproot::ANNEX_TAG) {
                return E{Field(where, "leaf_version") + ": must be an even number other than 80 (BIP-341), e.g. 192"};
            }
            leaf.version = static_cast<uint8_t>(*ver);
        }
        leaves.push_back(std::move(leaf));
    }

    auto rv = Need(o, "", "recovery_script_pubkey", why);
    if (!rv) return E{rv.error()};
    auto rspk = HexBytes(**rv, "recovery_script_pubkey", MAX_SPK_BYTES);
    if (!rspk) return E{rspk.error()};

    vault::OpVaultRegistration reg{vault::VaultSpec{*internal, std::move(leaves), std::move(*rspk), std::nullopt},
                                   std::nullopt, std::move(c.label), c.policy, c.birth_height, stored_output_key};
    // The recovery-auth public key is the one the authorized recover leaf commits to.
    for (const auto& l : reg.spec.leaves) {
        if (l.version != taproot::LEAF_VERSION_TAPSCRIPT) continue;
        auto r = vault::ParseRecoverLeaf(l.script, stored_output_key ? vault::LeafKeys::Trusted : vault::LeafKeys::Check);
        if (r && r->authorized && r->auth_key) {
            reg.spec.recovery_auth_key = r->auth_key;
            break;
        }
    }
    if (const auto* av = Get(o, "recovery_auth")) {
        auto kp = SecretKeyField(*av, "recovery_auth");
        if (!kp) return E{kp.error()};
        reg.recovery_auth = std::move(*kp);
    }
    return reg;
}

R<vault::PresignedRegistration> ParsePresigned(const json::object& o, Common c)
{
    constexpr std::string_view why = "required for kind \"presigned\"";
    vault::PresignedRequest req;

    auto wv = Need(o, "", "watch_outpoints", why);
    if (!wv) return E{wv.error()};
    auto wa = Arr(**wv, "watch_outpoints", 1, MAX_JSON_ARRAY_ITEMS);
    if (!wa) return E{wa.error()};
    req.watch_outpoints.reserve((*wa)->size());
    for (size_t i = 0; i < (*wa)->size(); ++i) {
        auto op = OutPointField((**wa)[i], Item("watch_outpoints", i));
        if (!op) return E{op.error()};
        req.watch_outpoints.push_back(*op);
    }

    auto tv = Need(o, "", "triggers", why);
    if (!tv) return E{tv.error()};
    auto ta = Arr(**tv, "triggers", 1, MAX_JSON_ARRAY_ITEMS);
    if (!ta) return E{ta.error()};
    static constexpr std::array<std::string_view, 3> trigger_fields{"txid", "spend_delay", "recovery_txs"};
    for (size_t i = 0; i < (*ta)->size(); ++i) {
        const std::string where = Item("triggers", i);
        auto to = Obj((**ta)[i], where);
        if (!to) return E{to.error()};
        if (auto err = CheckKnown(**to, where, trigger_fields)) return E{*err};
        vault::PresignedRequest::Trigger t;
        auto xv = Need(**to, where, "txid");
        if (!xv) return E{xv.error()};
        auto txid = TxidField(**xv, Field(where, "txid"));
        if (!txid) return E{txid.error()};
        t.txid = *txid;
        auto dv = Need(**to, where, "spend_delay");
        if (!dv) return E{dv.error()};
        auto delay = Int(**dv, Field(where, "spend_delay"), 1, vault::MAX_SPEND_DELAY);
        if (!delay) return E{delay.error()};
        t.spend_delay = static_cast<int>(*delay);
        auto rv = Need(**to, where, "recovery_txs");
        if (!rv) return E{rv.error()};
        auto txs = TxHexList(**rv, Field(where, "recovery_txs"), 1);
        if (!txs) return E{txs.error()};
        t.recovery_txs = std::move(*txs);
        req.triggers.push_back(std::move(t));
    }

    if (const auto* ev = Get(o, "emergency_txs")) {
        auto txs = TxHexList(*ev, "emergency_txs", 0);
        if (!txs) return E{txs.error()};
        req.emergency_txs = std::move(*txs);
    }

    auto v = vault::ValidatePresigned(req);
    if (!v) return E{v.error()};
    vault::PresignedRegistration reg;
    reg.vault = std::move(*v);
    reg.label = std::move(c.label);
    reg.policy = c.policy;
    reg.birth_height = c.birth_height;
    return reg;
}

// --- output helpers -----------------------------------------------------------------------------

json::value OptInt(const std::optional<int>& v)
{
    if (v) return json::value(static_cast<int64_t>(*v));
    return json::value(nullptr);
}

json::array TxHexArray(const std::vector<Transaction>& txs)
{
    json::array a;
    a.reserve(txs.size());
    for (const auto& tx : txs) a.emplace_back(HexStr(SerializeTransaction(tx)));
    return a;
}

void PutCommon(json::object& o, vault::VaultKind kind, const std::string& label, const vault::Policy& policy,
               const std::optional<int>& birth_height)
{
    o["kind"] = ToString(kind);
    if (!label.empty()) o["label"] = label;
    o["policy"] = PolicyJson(policy);
    if (birth_height) o["birth_height"] = static_cast<int64_t>(*birth_height);
}

json::object OpVaultJson(const vault::VaultSpec& spec, const std::optional<crypto::KeyPair>& auth, bool include_secret)
{
    json::object o;
    o["internal_key"] = HexStr(spec.internal_key.span());
    json::array leaves;
    leaves.reserve(spec.leaves.size());
    for (const auto& l : spec.leaves) {
        json::object lo;
        lo["script"] = HexStr(l.script);
        lo["depth"] = static_cast<int64_t>(l.depth);
        lo["leaf_version"] = static_cast<int64_t>(l.version);
        leaves.emplace_back(std::move(lo));
    }
    o["leaves"] = std::move(leaves);
    o["recovery_script_pubkey"] = HexStr(spec.recovery_spk);
    if (include_secret && auth) {
        std::array<uint8_t, 32> secret = auth->Secret();
        o["recovery_auth"] = HexStr(secret);
        OPENSSL_cleanse(secret.data(), secret.size());
    }
    return o;
}

json::object PresignedJson(const vault::PresignedVault& v)
{
    json::object o;
    json::array outs;
    for (const auto& op : v.watch_outpoints) outs.emplace_back(OutPointJson(op));
    o["watch_outpoints"] = std::move(outs);
    json::array trig;
    for (const auto& t : v.triggers) {
        json::object to;
        to["txid"] = t.txid.ToString();
        to["spend_delay"] = static_cast<int64_t>(t.spend_delay);
        to["recovery_txs"] = TxHexArray(t.recovery_txs);
        trig.emplace_back(std::move(to));
    }
    o["triggers"] = std::move(trig);
    if (!v.emergency_txs.empty()) o["emergency_txs"] = TxHexArray(v.emergency_txs);
    return o;
}

void Merge(json::object& into, json::object from)
{
    for (auto& kv : from) into[kv.key()] = std::move(kv.value());
}

json::object UtxoJson(const vault::TrackedUtxo& u)
{
    json::object o;
    o["txid"] = u.outpoint.txid.ToString();
    o["vout"] = static_cast<int64_t>(u.outpoint.n);
    // A presigned vault's watched outpoint is registered without its value.
    if (u.role == vault::UtxoRole::Watched && u.amount == Amount{0}) o["amount"] = nullptr;
    else o["amount"] = u.amount.sats();
    o["role"] = ToString(u.role);
    o["height"] = OptInt(u.height);
    if (u.spent_by) o["spent_by"] = u.spent_by->ToString();
    else o["spent_by"] = nullptr;
    if (u.role == vault::UtxoRole::Trigger && u.trigger) {
        o["trigger_txid"] = u.trigger->trigger_txid.ToString();
        o["spend_delay"] = u.trigger->spend_delay;
        if (u.trigger->ctv_hash) o["ctv_hash"] = u.trigger->ctv_hash->Hex();
        else o["ctv_hash"] = nullptr;
        if (u.trigger->ccv_data) o["data"] = HexStr(*u.trigger->ccv_data);
    }
    return o;
}

} // namespace

// --- registration -------------------------------------------------------------------------------

Expected<Registration, std::string> ParseRegisterVault(const json::object& params, const std::optional<crypto::TweakedKey>& stored_output_key)
{
    const json::value* kv = Get(params, "kind");
    if (!kv) return E{std::string{"kind: missing (must be \"opvault\", \"presigned\" or \"ccv\")"}};
    auto ks = Str(*kv, "kind");
    if (!ks) return E{ks.error()};
    auto kind = vault::ParseVaultKind(*ks);
    if (!kind) return E{std::string{"kind: must be \"opvault\", \"presigned\" or \"ccv\""}};
    const std::span<const std::string_view> allowed = *kind == vault::VaultKind::OpVault ? std::span<const std::string_view>{OPVAULT_FIELDS}
                                                      : *kind == vault::VaultKind::Ccv  ? std::span<const std::string_view>{CCV_FIELDS}
                                                                                        : std::span<const std::string_view>{PRESIGNED_FIELDS};
    if (*kind == vault::VaultKind::Ccv && params.contains("alternate_pk")) {
        return E{std::string{"alternate_pk: refused: a real key where the NUMS point belongs is a key path that spends the vault "
                             "and its unvaulting outputs without trigger or delay, and no watchtower can stop it; use a vault "
                             "without one (the NUMS key)"}};
    }
    const std::string context = "for kind \"" + std::string{ToString(*kind)} + "\"";
    if (auto err = CheckKnown(params, "", allowed, context)) return E{*err};
    auto common = ParseCommon(params);
    if (!common) return E{common.error()};
    if (*kind == vault::VaultKind::OpVault) {
        auto r = ParseOpVault(params, std::move(*common), stored_output_key);
        if (!r) return E{r.error()};
        return Registration{std::move(*r)};
    }
    if (*kind == vault::VaultKind::Ccv) {
        auto r = ParseCcv(params, std::move(*common));
        if (!r) return E{r.error()};
        return Registration{std::move(*r)};
    }
    auto r = ParsePresigned(params, std::move(*common));
    if (!r) return E{r.error()};
    return Registration{std::move(*r)};
}

vault::VaultKind KindOf(const Registration& r)
{
    if (std::holds_alternative<vault::OpVaultRegistration>(r)) return vault::VaultKind::OpVault;
    if (std::holds_alternative<vault::CcvRegistration>(r)) return vault::VaultKind::Ccv;
    return vault::VaultKind::Presigned;
}

vault::VaultId RegistrationId(const Registration& r)
{
    if (const auto* o = std::get_if<vault::OpVaultRegistration>(&r)) return vault::ComputeVaultId(o->spec);
    if (const auto* c = std::get_if<vault::CcvRegistration>(&r)) return vault::ComputeVaultId(c->params);
    return vault::ComputeVaultId(std::get<vault::PresignedRegistration>(r).vault);
}

Expected<vault::AddResult, vault::AddError> AddToRegistry(vault::Registry& reg, Registration r)
{
    if (auto* o = std::get_if<vault::OpVaultRegistration>(&r)) return reg.AddOpVault(std::move(*o));
    if (auto* c = std::get_if<vault::CcvRegistration>(&r)) return reg.AddCcv(std::move(*c));
    return reg.AddPresigned(std::move(std::get<vault::PresignedRegistration>(r)));
}

Expected<vault::PreparedVault, vault::AddError> PrepareRegistration(Registration r)
{
    if (auto* o = std::get_if<vault::OpVaultRegistration>(&r)) return vault::PrepareOpVault(std::move(*o));
    if (auto* c = std::get_if<vault::CcvRegistration>(&r)) return vault::PrepareCcv(std::move(*c));
    return vault::PreparePresigned(std::move(std::get<vault::PresignedRegistration>(r)));
}

Registration RegistrationFromRecord(const vault::VaultRecord& rec, const vault::VaultDetails& d)
{
    if (rec.kind == vault::VaultKind::OpVault && d.opvault) {
        return vault::OpVaultRegistration{d.opvault->spec(), d.recovery_auth, rec.label.str(), rec.policy, rec.birth_height, std::nullopt};
    }
    if (rec.kind == vault::VaultKind::Ccv && d.ccv) {
        return vault::CcvRegistration{d.ccv->params(), rec.label.str(), rec.policy, rec.birth_height};
    }
    vault::PresignedRegistration p;
    if (d.presigned) p.vault = *d.presigned;
    p.label = rec.label.str();
    p.policy = rec.policy;
    p.birth_height = rec.birth_height;
    return p;
}

json::object ToJson(const Registration& r, bool include_secret)
{
    json::object o;
    if (const auto* op = std::get_if<vault::OpVaultRegistration>(&r)) {
        PutCommon(o, vault::VaultKind::OpVault, op->label, op->policy, op->birth_height);
        Merge(o, OpVaultJson(op->spec, op->recovery_auth, include_secret));
    } else if (const auto* c = std::get_if<vault::CcvRegistration>(&r)) {
        PutCommon(o, vault::VaultKind::Ccv, c->label, c->policy, c->birth_height);
        Merge(o, CcvJson(c->params));
    } else {
        const auto& p = std::get<vault::PresignedRegistration>(r);
        PutCommon(o, vault::VaultKind::Presigned, p.label, p.policy, p.birth_height);
        Merge(o, PresignedJson(p.vault));
    }
    return o;
}

json::object ToJson(const vault::VaultRecord& rec, const vault::VaultDetails& d, bool include_secret)
{
    return ToJson(RegistrationFromRecord(rec, d), include_secret);
}

// --- policy -------------------------------------------------------------------------------------

Expected<vault::Policy, std::string> ParsePolicy(const json::value& v)
{
    auto o = Obj(v, "policy");
    if (!o) return E{o.error()};
    static constexpr std::array<std::string_view, 2> known{"mode", "grace_blocks"};
    if (auto err = CheckKnown(**o, "policy", known)) return E{*err};
    vault::Policy p;
    if (const auto* mv = Get(**o, "mode")) {
        auto ms = Str(*mv, "policy.mode");
        if (!ms) return E{ms.error()};
        auto m = vault::ParseMode(*ms);
        if (!m) return E{std::string{"policy.mode: must be \"recover\", \"delayed\" or \"alert\""}};
        p.mode = *m;
    }
    if (const auto* gv = Get(**o, "grace_blocks")) {
        auto g = Int(*gv, "policy.grace_blocks", 0, vault::MAX_SPEND_DELAY - vault::MIN_RECOVERY_WINDOW);
        if (!g) return E{g.error()};
        p.grace_blocks = static_cast<int>(*g);
    }
    // The vault-independent rules: the most permissive delay leaves only them.
    if (auto why = vault::CheckPolicy(p, vault::MAX_SPEND_DELAY)) return E{"policy: " + *why};
    return p;
}

json::object PolicyJson(const vault::Policy& p)
{
    json::object o;
    o["mode"] = ToString(p.mode);
    o["grace_blocks"] = static_cast<int64_t>(p.grace_blocks);
    return o;
}

// --- approvals ----------------------------------------------------------------------------------

Expected<vault::Approval, std::string> ParseApproval(const json::object& o)
{
    static constexpr std::array<std::string_view, 3> known{"ctv_hash", "trigger_txid", "expiry_height"};
    if (auto err = CheckKnown(o, "", known)) return E{*err};
    const json::value* ctv = Get(o, "ctv_hash");
    const json::value* txid = Get(o, "trigger_txid");
    if (ctv && txid) return E{std::string{"give either ctv_hash or trigger_txid, not both"}};
    if (!ctv && !txid) return E{std::string{"missing ctv_hash (opvault withdrawal template) or trigger_txid (presigned unvault)"}};
    vault::Approval a;
    if (ctv) {
        auto h = Hash32(*ctv, "ctv_hash", "a 32-byte CTV hash");
        if (!h) return E{h.error()};
        a.kind = vault::Approval::Kind::CtvHash;
        a.value = *h;
    } else {
        auto t = TxidField(*txid, "trigger_txid");
        if (!t) return E{t.error()};
        a.kind = vault::Approval::Kind::TriggerTxid;
        a.value = t->ToUint256();
    }
    if (const auto* ev = Get(o, "expiry_height")) {
        auto h = Int(*ev, "expiry_height", 0, MAX_HEIGHT);
        if (!h) return E{h.error()};
        a.expiry_height = static_cast<int>(*h);
    }
    return a;
}

std::optional<std::string> CheckApprovalFor(vault::VaultKind k, const vault::Approval& a)
{
    if (k == vault::VaultKind::Presigned && a.kind == vault::Approval::Kind::CtvHash) {
        return "a presigned vault's triggers carry no CTV hash; approve them by trigger_txid";
    }
    // A ccv vault's trigger names its withdrawal by its data: the CTV hash ("ctv" construction) or
    // the withdrawal key ("withdrawal-key"); both are 32 bytes and approved as ctv_hash.
    return std::nullopt;
}

json::object ApprovalJson(const vault::Approval& a)
{
    json::object o;
    switch (a.kind) {
    case vault::Approval::Kind::CtvHash:
        o["kind"] = "ctv_hash";
        o["value"] = a.value.Hex();
        break;
    case vault::Approval::Kind::TriggerTxid:
        o["kind"] = "trigger_txid";
        o["value"] = Txid::FromUint256(a.value).ToString();
        break;
    }
    o["expiry_height"] = OptInt(a.expiry_height);
    o["revoked"] = a.revoked;
    return o;
}

// --- results ------------------------------------------------------------------------------------

std::optional<std::string_view> HrpForChain(std::string_view chain)
{
    if (chain == "main") return "bc";
    if (chain == "test" || chain == "testnet4" || chain == "signet") return "tb";
    if (chain == "regtest") return "bcrt";
    return std::nullopt;
}

json::object OutPointJson(const OutPoint& o)
{
    json::object r;
    r["txid"] = o.txid.ToString();
    r["vout"] = static_cast<int64_t>(o.n);
    return r;
}

json::object VaultSummaryJson(const vault::VaultRecord& rec)
{
    json::object o;
    o["vault_id"] = rec.id.str();
    o["kind"] = ToString(rec.kind);
    o["label"] = rec.label.view();
    o["state"] = ToString(rec.state);
    o["policy"] = PolicyJson(rec.policy);
    o["birth_height"] = OptInt(rec.birth_height);
    o["spend_delay"] = rec.MinSpendDelay();
    o["utxo_count"] = static_cast<int64_t>(rec.utxos.size());
    o["approval_count"] = static_cast<int64_t>(rec.approvals().size());
    return o;
}

json::object ProtectionJson(const vault::VaultRecord& rec, const vault::VaultDetails& d)
{
    // What the tower can do for this vault on a theft, said at registration and on every read:
    // a vault it can only watch must not look protected.
    bool recovers = rec.policy.mode != vault::Mode::Alert;
    json::array warnings;
    if (rec.policy.mode == vault::Mode::Alert) warnings.emplace_back("policy is alert-only: a trigger is reported, never answered");
    if (rec.kind == vault::VaultKind::OpVault && rec.authorized_recover && !rec.holds_recovery_auth) {
        recovers = false;
        warnings.emplace_back("the recover leaf needs the recovery_auth key and none was registered: a trigger is alerted on "
                              "(recovery.failed) but the tower cannot sweep it; register the vault again with recovery_auth");
    }
    if (d.ccv) {
        warnings.emplace_back("the recover clause is keyless: anyone can sweep this vault to its recovery key at any time "
                              "(a nuisance, not a theft); the tower pays each recovery's fee from its fee wallet");
    }
    if (d.presigned) {
        const bool any = std::any_of(d.presigned->triggers.begin(), d.presigned->triggers.end(),
                                     [](const auto& t) { return !t.recovery_txs.empty(); });
        if (!any && d.presigned->emergency_txs.empty()) {
            recovers = false;
            warnings.emplace_back("no pre-signed recovery or emergency transaction: the tower can only alert");
        }
    }
    return json::object{{"recovers", recovers}, {"warnings", std::move(warnings)}};
}

json::object VaultDetailJson(const vault::VaultRecord& rec, const vault::VaultDetails& d, std::string_view hrp)
{
    json::object o = VaultSummaryJson(rec);
    o["protection"] = ProtectionJson(rec, d);
    if (d.opvault) {
        const vault::Vault& v = *d.opvault;
        o["script_pubkey"] = HexStr(v.ScriptPubKey());
        o["address"] = v.Address(hrp);
        o["internal_key"] = HexStr(v.spec().internal_key.span());
        o["recovery_script_pubkey"] = HexStr(v.spec().recovery_spk);
        if (auto a = vault::AddressForSpk(v.spec().recovery_spk, hrp)) o["recovery_address"] = *a;
        else o["recovery_address"] = nullptr;
        o["recovery_spk_hash"] = v.RecoverySpkHashValue().Hex();
        o["authorized_recovery"] = v.recover_leaf().authorized;
        o["recovery_auth_held"] = rec.holds_recovery_auth;
        json::array delays;
        for (size_t k = 0; k < v.trigger_indices().size(); ++k) {
            if (auto delay = v.trigger_leaf(k).spend_delay) delays.emplace_back(*delay);
        }
        o["spend_delays"] = std::move(delays);
        json::array leaves;
        const auto& ls = v.tree().leaves();
        for (size_t i = 0; i < ls.size(); ++i) {
            json::object lo;
            lo["script"] = HexStr(ls[i].script);
            lo["depth"] = static_cast<int64_t>(ls[i].depth);
            lo["leaf_version"] = static_cast<int64_t>(ls[i].version);
            const auto& ti = v.trigger_indices();
            lo["role"] = i == v.recover_index() ? "recover" : std::find(ti.begin(), ti.end(), i) != ti.end() ? "trigger" : "other";
            lo["tapleaf_hash"] = v.tree().LeafHashAt(i).Hex();
            leaves.emplace_back(std::move(lo));
        }
        o["leaves"] = std::move(leaves);
    }
    if (d.ccv) {
        const vault::ccv::Vault& v = *d.ccv;
        o["script_pubkey"] = HexStr(v.ScriptPubKey());
        o["address"] = v.Address(hrp);
        Merge(o, CcvJson(v.params()));
        o["recovery_script_pubkey"] = HexStr(v.RecoverySpk());
        if (auto a = vault::AddressForSpk(v.RecoverySpk(), hrp)) o["recovery_address"] = *a;
        else o["recovery_address"] = nullptr;
        json::array leaves;
        const auto& ls = v.tree().leaves();
        for (size_t i = 0; i < ls.size(); ++i) {
            json::object lo;
            lo["script"] = HexStr(ls[i].script);
            lo["depth"] = static_cast<int64_t>(ls[i].depth);
            lo["leaf_version"] = static_cast<int64_t>(ls[i].version);
            const auto c = v.VaultClauseOf(ls[i].script);
            lo["role"] = c ? std::string{ToString(*c)} : std::string{"other"};
            lo["tapleaf_hash"] = v.tree().LeafHashAt(i).Hex();
            leaves.emplace_back(std::move(lo));
        }
        o["leaves"] = std::move(leaves);
    }
    if (d.presigned) {
        const vault::PresignedVault& p = *d.presigned;
        json::array outs;
        for (const auto& op : p.watch_outpoints) outs.emplace_back(OutPointJson(op));
        o["watch_outpoints"] = std::move(outs);
        json::array trig;
        for (const auto& t : p.triggers) {
            json::object to;
            to["txid"] = t.txid.ToString();
            to["spend_delay"] = static_cast<int64_t>(t.spend_delay);
            to["recovery_variants"] = static_cast<int64_t>(t.recovery_txs.size());
            trig.emplace_back(std::move(to));
        }
        o["triggers"] = std::move(trig);
        o["emergency_tx_count"] = static_cast<int64_t>(p.emergency_txs.size());
    }
    json::array utxos;
    utxos.reserve(rec.utxos.size());
    for (const auto& u : rec.utxos) utxos.emplace_back(UtxoJson(u));
    o["utxos"] = std::move(utxos);
    json::array approvals;
    for (const auto& a : rec.approvals()) approvals.emplace_back(ApprovalJson(a));
    o["approvals"] = std::move(approvals);
    return o;
}

} // namespace vw::rpc
