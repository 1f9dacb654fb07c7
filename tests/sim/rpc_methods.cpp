// RPC method bodies with bitcoind v31's result shapes, parameter handling and error codes.

#include "sim_impl.h"

#include "script_info.h"
#include "util/hex.h"

#include <algorithm>
#include <cmath>
#include <map>

namespace vw::sim {

namespace {

using Impl = RegtestSim::Impl;

enum class T { Num, Str, Bool, Arr, Obj, Any, NumOrBool, Amount, StrOrBool };

struct ParamSpec {
    const char* name;
    T type;
    bool required;
};

class Args
{
public:
    std::vector<json::value> v;
    bool Has(size_t i) const { return i < v.size() && !v[i].is_null(); }
    const json::value& operator[](size_t i) const
    {
        static const json::value null;
        return i < v.size() ? v[i] : null;
    }
    int64_t Int(size_t i, int64_t dflt) const
    {
        if (!Has(i)) return dflt;
        const auto& x = v[i];
        if (x.is_int64()) return x.get_int64();
        if (x.is_uint64()) return static_cast<int64_t>(x.get_uint64());
        if (x.is_double()) return static_cast<int64_t>(x.get_double());
        return dflt;
    }
    bool Bool(size_t i, bool dflt) const { return Has(i) && v[i].is_bool() ? v[i].get_bool() : dflt; }
    std::string Str(size_t i) const { return Has(i) && v[i].is_string() ? std::string(v[i].get_string()) : std::string{}; }
};

using Handler = json::value (*)(Impl&, const Args&);

struct Method {
    std::vector<ParamSpec> params;
    Handler fn;
    bool sim{false};  //!< simulator control: allowed during warm-up
};

const char* TypeName(T t)
{
    switch (t) {
    case T::Num: return "number";
    case T::Str: return "string";
    case T::Bool: return "bool";
    case T::Arr: return "array";
    case T::Obj: return "object";
    default: return "any";
    }
}

bool TypeMatches(T t, const json::value& v)
{
    switch (t) {
    case T::Num: return v.is_number();
    case T::Str: return v.is_string();
    case T::Bool: return v.is_bool();
    case T::Arr: return v.is_array();
    case T::Obj: return v.is_object();
    case T::NumOrBool: return v.is_number() || v.is_bool();
    case T::Amount: return v.is_number() || v.is_string();
    case T::StrOrBool: return v.is_string() || v.is_bool();
    case T::Any: return true;
    }
    return true;
}

std::string Usage(const std::string& name, const std::vector<ParamSpec>& spec)
{
    std::string s = name;
    for (const auto& p : spec) s += p.required ? std::string(" \"") + p.name + "\"" : std::string(" ( \"") + p.name + "\" )";
    return s + "\n\n(vw-regtest-sim: help text not reproduced)";
}

Args Transform(const std::string& name, const std::vector<ParamSpec>& spec, const json::value& params)
{
    Args a;
    if (params.is_object()) {
        a.v.assign(spec.size(), nullptr);
        for (const auto& kv : params.get_object()) {
            const std::string key(kv.key());
            auto it = std::find_if(spec.begin(), spec.end(), [&](const ParamSpec& p) { return key == p.name; });
            if (it == spec.end()) throw RpcError(-8, "Unknown named parameter " + key);
            a.v[static_cast<size_t>(it - spec.begin())] = kv.value();
        }
        while (!a.v.empty() && a.v.back().is_null()) a.v.pop_back();
    } else {
        for (const auto& x : params.get_array()) a.v.push_back(x);
    }
    size_t required = 0;
    for (const auto& p : spec) required += p.required ? 1 : 0;
    size_t given_required = 0;
    for (size_t i = 0; i < spec.size() && i < a.v.size(); ++i) given_required += (spec[i].required && !a.v[i].is_null()) ? 1 : 0;
    if (a.v.size() > spec.size() || given_required < required) throw RpcError(-1, Usage(name, spec));
    // Type check (RPCHelpMan::HandleRequest -> CheckRequiredArgs / type errors collected).
    std::string errors;
    for (size_t i = 0; i < a.v.size(); ++i) {
        if (a.v[i].is_null()) continue;
        if (!TypeMatches(spec[i].type, a.v[i]) && spec[i].type != T::NumOrBool && spec[i].type != T::Amount && spec[i].type != T::StrOrBool) {
            if (!errors.empty()) errors += ",\n";
            errors += "    \"Position " + std::to_string(i + 1) + " (" + spec[i].name + ")\": \"JSON value of type " + JsonTypeName(a.v[i]) + " is not of expected type " + TypeName(spec[i].type) + "\"";
        }
    }
    if (!errors.empty()) throw RpcError(-3, "Wrong type passed:\n{\n" + errors + "\n}");
    return a;
}

// ---- parsing helpers ---------------------------------------------------------------------------

template <typename Id>
Id ParseHashV(const json::value& v, const std::string& name)
{
    if (!v.is_string()) throw RpcError(-3, name + " must be a string");
    const std::string s(v.get_string());
    if (auto h = Id::FromHex(s)) return *h;
    if (s.size() != 64) throw RpcError(-8, name + " must be of length 64 (not " + std::to_string(s.size()) + ", for '" + s + "')");
    throw RpcError(-8, name + " must be hexadecimal string (not '" + s + "')");
}

std::optional<vw::Transaction> DecodeTx(const std::string& hex)
{
    auto bytes = ParseHex(hex);
    if (!bytes) return std::nullopt;
    auto tx = DecodeTransaction(*bytes);
    if (!tx) return std::nullopt;
    if (tx->vin().empty()) return std::nullopt;
    return std::move(*tx);
}

int Verbosity(const json::value& v, int dflt)
{
    if (v.is_null()) return dflt;
    if (v.is_bool()) return v.get_bool() ? 1 : 0;
    if (v.is_int64()) return static_cast<int>(v.get_int64());
    if (v.is_uint64()) return static_cast<int>(v.get_uint64());
    if (v.is_double()) return static_cast<int>(v.get_double());
    throw RpcError(-3, "Expected type number or bool, got " + JsonTypeName(v));
}

bool OnOff(const Args& a, size_t i)
{
    const auto& v = a[i];
    if (v.is_bool()) return v.get_bool();
    if (v.is_number()) return a.Int(i, 0) != 0;
    if (v.is_string()) {
        const std::string s(v.get_string());
        if (s == "on" || s == "true" || s == "1") return true;
        if (s == "off" || s == "false" || s == "0") return false;
    }
    throw RpcError(-8, "expected on/off");
}

// Fee-rate arguments in BTC/kvB. Default 0.10 (DEFAULT_MAX_RAW_TX_FEE_RATE).
int64_t MaxFeeRate(const Args& a, size_t i)
{
    if (!a.Has(i)) return 10'000'000;
    auto r = ParseAmount(a[i]);
    if (!r) throw RpcError(-3, "Invalid amount");
    if (*r >= 100'000'000) throw RpcError(-8, "Fee rates larger than or equal to 1BTC/kvB are not accepted");
    return *r;
}

int64_t FeeAt(int64_t sat_per_kvb, size_t vsize) { return sat_per_kvb * static_cast<int64_t>(vsize) / 1000; }

// ---- JSON builders -----------------------------------------------------------------------------

std::string BitsHex(uint32_t bits)
{
    char b[16];
    std::snprintf(b, sizeof(b), "%08x", bits);
    return b;
}

std::string TargetHex(uint32_t bits)
{
    // Compact -> 256-bit, printed big-endian.
    std::array<uint8_t, 32> be{};
    const int size = static_cast<int>(bits >> 24);
    const uint32_t word = bits & 0x007fffff;
    for (int i = 0; i < 3; ++i) {
        const int pos = 32 - size + i;
        if (pos >= 0 && pos < 32) be[static_cast<size_t>(pos)] = static_cast<uint8_t>(word >> (8 * (2 - i)));
    }
    return HexStr(be);
}

double Difficulty(uint32_t bits)
{
    int shift = static_cast<int>((bits >> 24) & 0xff);
    double diff = static_cast<double>(0x0000ffff) / static_cast<double>(bits & 0x00ffffff);
    while (shift < 29) {
        diff *= 256.0;
        ++shift;
    }
    while (shift > 29) {
        diff /= 256.0;
        --shift;
    }
    return diff;
}

std::string ChainWorkHex(uint64_t work)
{
    char b[80];
    std::snprintf(b, sizeof(b), "%064llx", static_cast<unsigned long long>(work));
    return b;
}

json::object HeaderJson(Impl& s, const BlockIndex* idx)
{
    const Node& n = *s.node;
    json::object o;
    o["hash"] = idx->hash.ToString();
    o["confirmations"] = n.InActiveChain(idx) ? n.Height() - idx->height + 1 : -1;
    o["height"] = idx->height;
    o["version"] = idx->header.version;
    char vh[16];
    std::snprintf(vh, sizeof(vh), "%08x", static_cast<uint32_t>(idx->header.version));
    o["versionHex"] = vh;
    Uint256 mr = idx->header.merkle_root;
    std::reverse(mr.bytes.begin(), mr.bytes.end());
    o["merkleroot"] = mr.Hex();
    o["time"] = idx->header.time;
    o["mediantime"] = n.MedianTimePast(idx);
    o["nonce"] = idx->header.nonce;
    o["bits"] = BitsHex(idx->header.bits);
    o["target"] = TargetHex(idx->header.bits);
    o["difficulty"] = DoubleValue(Difficulty(idx->header.bits));
    o["chainwork"] = ChainWorkHex(idx->ChainWork());
    o["nTx"] = idx->block.txs.size();
    if (idx->prev) o["previousblockhash"] = idx->prev->hash.ToString();
    if (const auto* next = n.Next(idx)) o["nextblockhash"] = next->hash.ToString();
    return o;
}

json::array WitnessJson(const TxIn& in)
{
    json::array w;
    for (const auto& item : in.witness) w.push_back(json::string(HexStr(item)));
    return w;
}

//! TxToUniv. undo: spent coins per input (verbosity 3 prevouts); fee: shown when known.
json::object TxJson(const vw::Transaction& tx, bool include_hex, const std::vector<Coin>* undo = nullptr, std::optional<Amount> fee = std::nullopt, bool show_prevout = false)
{
    json::object o;
    o["txid"] = tx.GetTxid().ToString();
    o["hash"] = tx.GetWtxid().ToString();
    o["version"] = tx.version();
    o["size"] = tx.TotalSize();
    o["vsize"] = tx.VSize();
    o["weight"] = tx.Weight();
    o["locktime"] = tx.locktime();
    json::array vin;
    for (size_t i = 0; i < tx.vin().size(); ++i) {
        const auto& in = tx.vin()[i];
        json::object e;
        if (tx.IsCoinBase()) {
            e["coinbase"] = HexStr(in.script_sig);
            if (!in.witness.empty()) e["txinwitness"] = WitnessJson(in);
        } else {
            e["txid"] = in.prevout.txid.ToString();
            e["vout"] = in.prevout.n;
            json::object ss;
            ss["asm"] = ScriptToAsm(in.script_sig, true);
            ss["hex"] = HexStr(in.script_sig);
            e["scriptSig"] = std::move(ss);
            if (!in.witness.empty()) e["txinwitness"] = WitnessJson(in);
            if (show_prevout && undo && i < undo->size()) {
                const Coin& c = (*undo)[i];
                json::object p;
                p["generated"] = c.coinbase;
                p["height"] = c.height;
                p["value"] = AmountValue(c.out.value);
                p["scriptPubKey"] = ScriptPubKeyJson(c.out.script_pubkey);
                e["prevout"] = std::move(p);
            }
        }
        e["sequence"] = in.sequence;
        vin.push_back(std::move(e));
    }
    o["vin"] = std::move(vin);
    json::array vout;
    for (size_t n = 0; n < tx.vout().size(); ++n) {
        json::object e;
        e["value"] = AmountValue(tx.vout()[n].value);
        e["n"] = n;
        e["scriptPubKey"] = ScriptPubKeyJson(tx.vout()[n].script_pubkey);
        vout.push_back(std::move(e));
    }
    o["vout"] = std::move(vout);
    if (fee && !tx.IsCoinBase()) o["fee"] = AmountValue(*fee);
    if (include_hex) o["hex"] = HexStr(SerializeTransaction(tx));
    return o;
}

//! Per-tx undo slice of a block (undo is stored for all inputs of the block in order).
std::vector<std::vector<Coin>> SplitUndo(const BlockIndex* idx)
{
    std::vector<std::vector<Coin>> out(idx->block.txs.size());
    if (!idx->have_undo) return out;
    size_t pos = 0;
    for (size_t i = 0; i < idx->block.txs.size(); ++i) {
        const auto& tx = idx->block.txs[i];
        if (tx.IsCoinBase() || idx->height == 0) continue;
        for (size_t j = 0; j < tx.vin().size() && pos < idx->undo.size(); ++j) out[i].push_back(idx->undo[pos++]);
    }
    return out;
}

json::object MempoolEntryJson(Impl& s, const MempoolEntry& e)
{
    const Node& n = *s.node;
    const Txid id = e.tx.GetTxid();
    auto anc = n.MempoolAncestors(id);
    auto desc = n.MempoolDescendants(id);
    int64_t anc_fee = e.fee.sats(), desc_fee = e.fee.sats();
    size_t anc_size = e.tx.VSize(), desc_size = e.tx.VSize();
    bool replaceable = false;
    auto signals = [](const vw::Transaction& tx) {
        return std::any_of(tx.vin().begin(), tx.vin().end(), [](const TxIn& in) { return in.sequence < 0xfffffffe; });
    };
    replaceable = signals(e.tx);
    for (const auto& a : anc) {
        const auto* x = n.GetMempool(a);
        anc_fee += x->fee.sats();
        anc_size += x->tx.VSize();
        replaceable = replaceable || signals(x->tx);
    }
    for (const auto& d : desc) {
        const auto* x = n.GetMempool(d);
        desc_fee += x->fee.sats();
        desc_size += x->tx.VSize();
    }
    json::object o;
    o["vsize"] = e.tx.VSize();
    o["weight"] = e.tx.Weight();
    o["time"] = e.time;
    o["height"] = e.height;
    o["descendantcount"] = desc.size() + 1;
    o["descendantsize"] = desc_size;
    o["ancestorcount"] = anc.size() + 1;
    o["ancestorsize"] = anc_size;
    o["wtxid"] = e.tx.GetWtxid().ToString();
    o["chunkweight"] = e.tx.Weight();
    json::object fees;
    fees["base"] = AmountValue(e.fee);
    fees["modified"] = AmountValue(e.fee);
    fees["ancestor"] = AmountValue(anc_fee);
    fees["descendant"] = AmountValue(desc_fee);
    fees["chunk"] = AmountValue(e.fee);
    o["fees"] = std::move(fees);
    json::array depends, spentby;
    for (const auto& p : n.MempoolParents(e)) depends.push_back(json::string(p.ToString()));
    for (const auto& c : n.MempoolChildren(e)) spentby.push_back(json::string(c.ToString()));
    o["depends"] = std::move(depends);
    o["spentby"] = std::move(spentby);
    o["bip125-replaceable"] = replaceable;
    o["unbroadcast"] = true;  // no peers: nothing is ever broadcast
    return o;
}

json::object FeesJson(Amount fee, size_t vsize, const std::vector<std::string>& includes, std::optional<int64_t> pkg_rate = std::nullopt)
{
    json::object f;
    f["base"] = AmountValue(fee);
    const int64_t rate = pkg_rate ? *pkg_rate : fee.sats() * 1000 / static_cast<int64_t>(vsize);
    f["effective-feerate"] = AmountValue(rate);
    json::array inc;
    for (const auto& w : includes) inc.push_back(json::string(w));
    f["effective-includes"] = std::move(inc);
    return f;
}

// ---- methods -----------------------------------------------------------------------------------

json::value getblockchaininfo(Impl& s, const Args&)
{
    const Node& n = *s.node;
    const BlockIndex* tip = n.Tip();
    int headers = n.Height();
    for (const auto* b : n.AllBlocks()) {
        if (b->height > headers && n.IsValidChain(b)) headers = b->height;
    }
    json::object o;
    o["chain"] = "regtest";
    o["blocks"] = n.Height();
    o["headers"] = headers;
    o["bestblockhash"] = tip->hash.ToString();
    o["bits"] = BitsHex(tip->header.bits);
    o["target"] = TargetHex(tip->header.bits);
    o["difficulty"] = DoubleValue(Difficulty(tip->header.bits));
    o["time"] = tip->header.time;
    o["mediantime"] = n.MedianTimePast(tip);
    o["verificationprogress"] = DoubleValue(1.0);
    o["initialblockdownload"] = n.InitialBlockDownload();
    o["chainwork"] = ChainWorkHex(tip->ChainWork());
    o["size_on_disk"] = n.SizeOnDisk();
    o["pruned"] = false;
    o["warnings"] = json::array{};
    return o;
}

json::value getnetworkinfo(Impl&, const Args&)
{
    json::object o;
    o["version"] = 310000;
    o["subversion"] = "/Satoshi:31.0.0/";
    o["protocolversion"] = 70016;
    o["localservices"] = "0000000000000c09";
    o["localservicesnames"] = json::array{"NETWORK", "WITNESS", "NETWORK_LIMITED", "P2P_V2"};
    o["localrelay"] = true;
    o["timeoffset"] = 0;
    o["networkactive"] = true;
    o["connections"] = 0;
    o["connections_in"] = 0;
    o["connections_out"] = 0;
    json::array nets;
    for (const char* name : {"ipv4", "ipv6", "onion", "i2p", "cjdns"}) {
        const bool limited = std::string(name) != "ipv4" && std::string(name) != "ipv6";
        json::object e;
        e["name"] = name;
        e["limited"] = limited;
        e["reachable"] = !limited;
        e["proxy"] = "";
        e["proxy_randomize_credentials"] = false;
        nets.push_back(std::move(e));
    }
    o["networks"] = std::move(nets);
    o["relayfee"] = AmountValue(100);
    o["incrementalfee"] = AmountValue(100);
    o["localaddresses"] = json::array{};
    o["warnings"] = json::array{};
    return o;
}

json::value getbestblockhash(Impl& s, const Args&) { return json::string(s.node->Tip()->hash.ToString()); }
json::value getblockcount(Impl& s, const Args&) { return s.node->Height(); }

json::value getblockhash(Impl& s, const Args& a)
{
    const int64_t h = a.Int(0, -1);
    if (h < 0 || h > s.node->Height()) throw RpcError(-8, "Block height out of range");
    return json::string(s.node->AtHeight(static_cast<int>(h))->hash.ToString());
}

const BlockIndex* FindBlock(Impl& s, const json::value& v, const std::string& name)
{
    const auto h = ParseHashV<BlockHash>(v, name);
    const auto* idx = s.node->Lookup(h);
    if (!idx) throw RpcError(-5, "Block not found");
    return idx;
}

json::value getblockheader(Impl& s, const Args& a)
{
    const auto* idx = FindBlock(s, a[0], "hash");
    if (!a.Bool(1, true)) {
        Writer w;
        idx->header.Serialize(w);
        return json::string(HexStr(w.buf()));
    }
    return HeaderJson(s, idx);
}

json::value getblock(Impl& s, const Args& a)
{
    const auto* idx = FindBlock(s, a[0], "blockhash");
    const int verbosity = Verbosity(a[1], 1);
    if (verbosity <= 0) return HexValue(idx->hex);
    json::object o = HeaderJson(s, idx);
    o["strippedsize"] = idx->stripped_size;
    o["size"] = idx->raw.size();
    o["weight"] = idx->weight;
    const auto& cb = idx->block.txs[0];
    json::object cbo;
    cbo["version"] = cb.version();
    cbo["locktime"] = cb.locktime();
    cbo["sequence"] = cb.vin()[0].sequence;
    cbo["coinbase"] = HexStr(cb.vin()[0].script_sig);
    if (!cb.vin()[0].witness.empty()) cbo["witness"] = HexStr(cb.vin()[0].witness[0]);
    o["coinbase_tx"] = std::move(cbo);
    json::array txs;
    const auto undo = SplitUndo(idx);
    for (size_t i = 0; i < idx->block.txs.size(); ++i) {
        const auto& tx = idx->block.txs[i];
        if (verbosity == 1) {
            txs.push_back(json::string(tx.GetTxid().ToString()));
        } else {
            std::optional<Amount> fee;
            if (idx->have_undo && i < idx->tx_fees.size()) fee = idx->tx_fees[i];
            txs.push_back(TxJson(tx, true, &undo[i], fee, verbosity >= 3));
        }
    }
    o["tx"] = std::move(txs);
    return o;
}

json::value getchaintips(Impl& s, const Args&)
{
    const Node& n = *s.node;
    auto all = n.AllBlocks();
    std::vector<const BlockIndex*> tips;
    for (const auto* b : all) {
        bool has_child = false;
        for (const auto* c : all) has_child = has_child || c->prev == b;
        if (!has_child || b == n.Tip()) tips.push_back(b);
    }
    std::sort(tips.begin(), tips.end(), [](auto* x, auto* y) { return x->height > y->height; });
    json::array out;
    for (const auto* t : tips) {
        const BlockIndex* f = t;
        while (!n.InActiveChain(f)) f = f->prev;
        json::object o;
        o["height"] = t->height;
        o["hash"] = t->hash.ToString();
        o["branchlen"] = t->height - f->height;
        o["status"] = t == n.Tip() ? "active" : !n.IsValidChain(t) ? "invalid" : t->have_undo ? "valid-fork" : "valid-headers";
        out.push_back(std::move(o));
    }
    return out;
}

json::value getmempoolinfo(Impl& s, const Args&)
{
    size_t bytes = 0;
    int64_t fees = 0;
    auto entries = s.node->MempoolInOrder();
    for (const auto* e : entries) {
        bytes += e->tx.VSize();
        fees += e->fee.sats();
    }
    json::object o;
    o["loaded"] = true;
    o["size"] = entries.size();
    o["bytes"] = bytes;
    o["usage"] = bytes * 8 + entries.size() * 100;
    o["total_fee"] = AmountValue(fees);
    o["maxmempool"] = 300000000;
    o["mempoolminfee"] = AmountValue(100);
    o["minrelaytxfee"] = AmountValue(100);
    o["incrementalrelayfee"] = AmountValue(100);
    o["unbroadcastcount"] = entries.size();
    o["fullrbf"] = true;
    o["permitbaremultisig"] = true;
    o["maxdatacarriersize"] = 100000;
    o["limitclustercount"] = 64;
    o["limitclustersize"] = 101000;
    o["optimal"] = true;
    return o;
}

json::value getrawmempool(Impl& s, const Args& a)
{
    const bool verbose = a.Bool(0, false);
    const bool seq = a.Bool(1, false);
    if (verbose && seq) throw RpcError(-8, "Verbose results cannot contain mempool sequence values.");
    auto entries = s.node->MempoolInOrder();
    if (verbose) {
        json::object o;
        for (const auto* e : entries) o[e->tx.GetTxid().ToString()] = MempoolEntryJson(s, *e);
        return o;
    }
    json::array ids;
    for (const auto* e : entries) ids.push_back(json::string(e->tx.GetTxid().ToString()));
    if (!seq) return ids;
    json::object o;
    o["txids"] = std::move(ids);
    o["mempool_sequence"] = s.node->MempoolSequence();
    return o;
}

json::value getmempoolentry(Impl& s, const Args& a)
{
    const auto id = ParseHashV<Txid>(a[0], "txid");
    const auto* e = s.node->GetMempool(id);
    if (!e) throw RpcError(-5, "Transaction not in mempool");
    return MempoolEntryJson(s, *e);
}

json::value getrawtransaction(Impl& s, const Args& a)
{
    const Node& n = *s.node;
    const auto id = ParseHashV<Txid>(a[0], "parameter 1");
    const BlockIndex* blk = nullptr;
    if (a.Has(2)) {
        const auto bh = ParseHashV<BlockHash>(a[2], "parameter 3");
        blk = n.Lookup(bh);
        if (!blk) throw RpcError(-5, "Block hash not found");
    }
    const int verbosity = Verbosity(a[1], 0);
    if (id == n.AtHeight(0)->block.txs[0].GetTxid()) {
        throw RpcError(-5, "The genesis block coinbase is not considered an ordinary transaction and cannot be retrieved");
    }
    if (!blk) {
        const auto* e = n.GetMempool(id);
        if (!e) throw RpcError(-5, "No such mempool transaction. Use -txindex or provide a block hash to enable blockchain transaction queries. Use gettransaction for wallet transactions.");
        if (verbosity <= 0) return json::string(HexStr(SerializeTransaction(e->tx)));
        return TxJson(e->tx, true);
    }
    size_t pos = blk->block.txs.size();
    for (size_t i = 0; i < blk->block.txs.size(); ++i) {
        if (blk->block.txs[i].GetTxid() == id) pos = i;
    }
    if (pos == blk->block.txs.size()) throw RpcError(-5, "No such transaction found in the provided block. Use gettransaction for wallet transactions.");
    const auto& tx = blk->block.txs[pos];
    if (verbosity <= 0) return json::string(HexStr(SerializeTransaction(tx)));
    json::object o;
    o["in_active_chain"] = n.InActiveChain(blk);
    const auto undo = SplitUndo(blk);
    std::optional<Amount> fee;
    if (verbosity >= 2 && blk->have_undo) fee = blk->tx_fees[pos];
    for (auto& kv : TxJson(tx, true, &undo[pos], fee, verbosity >= 2)) o[kv.key()] = kv.value();
    o["blockhash"] = blk->hash.ToString();
    if (n.InActiveChain(blk)) {
        o["confirmations"] = n.Height() - blk->height + 1;
        o["time"] = blk->header.time;
        o["blocktime"] = blk->header.time;
    } else {
        o["confirmations"] = 0;
    }
    return o;
}

json::value decoderawtransaction(Impl&, const Args& a)
{
    auto tx = DecodeTx(a.Str(0));
    if (!tx) throw RpcError(-22, "TX decode failed");
    return TxJson(*tx, false);
}

json::value gettxout(Impl& s, const Args& a)
{
    const Node& n = *s.node;
    const auto id = ParseHashV<Txid>(a[0], "txid");
    const int64_t vout = a.Int(1, 0);
    if (vout < 0) throw RpcError(-8, "Invalid parameter, vout cannot be negative");
    const bool mempool = a.Bool(2, true);
    const OutPoint op{id, static_cast<uint32_t>(vout)};
    std::optional<Coin> coin;
    int confirmations = 0;
    if (mempool) {
        if (n.MempoolSpender(op)) return nullptr;
        if (const auto* e = n.GetMempool(id)) {
            if (op.n >= e->tx.vout().size()) return nullptr;
            coin = Coin{e->tx.vout()[op.n], 0, false};
        }
    }
    if (!coin) {
        coin = n.GetUtxo(op);
        if (!coin) return nullptr;
        confirmations = n.Height() - coin->height + 1;
    }
    json::object o;
    o["bestblock"] = n.Tip()->hash.ToString();
    o["confirmations"] = confirmations;
    o["value"] = AmountValue(coin->out.value);
    o["scriptPubKey"] = ScriptPubKeyJson(coin->out.script_pubkey);
    o["coinbase"] = coin->coinbase;
    return o;
}

json::value gettxspendingprevout(Impl& s, const Args& a)
{
    const auto& arr = a[0].get_array();
    if (arr.empty()) throw RpcError(-8, "Invalid parameter, outputs are missing");
    json::array out;
    for (const auto& item : arr) {
        if (!item.is_object()) throw RpcError(-8, "Invalid parameter, expected object");
        const auto& o = item.get_object();
        auto t = o.find("txid");
        auto v = o.find("vout");
        if (t == o.end()) throw RpcError(-8, "Invalid parameter, missing txid key");
        if (v == o.end()) throw RpcError(-8, "Invalid parameter, missing vout key");
        const auto id = ParseHashV<Txid>(t->value(), "txid");
        if (!v->value().is_number()) throw RpcError(-3, "vout must be a number");
        const int64_t n = v->value().is_int64() ? v->value().get_int64() : static_cast<int64_t>(v->value().to_number<double>());
        if (n < 0) throw RpcError(-8, "Invalid parameter, vout cannot be negative");
        json::object r;
        r["txid"] = id.ToString();
        r["vout"] = n;
        if (auto sp = s.node->MempoolSpender(OutPoint{id, static_cast<uint32_t>(n)})) r["spendingtxid"] = sp->ToString();
        out.push_back(std::move(r));
    }
    return out;
}

std::vector<vw::Transaction> DecodeTxArray(const Args& a, size_t i)
{
    const auto& arr = a[i].get_array();
    if (arr.empty() || arr.size() > 25) throw RpcError(-8, "Array must contain between 1 and 25 transactions.");
    std::vector<vw::Transaction> txs;
    for (const auto& v : arr) {
        const std::string hex = v.is_string() ? std::string(v.get_string()) : std::string{};
        auto tx = DecodeTx(hex);
        if (!tx) throw RpcError(-22, "TX decode failed: " + hex + " Make sure the tx has at least one input.");
        txs.push_back(std::move(*tx));
    }
    return txs;
}

json::value testmempoolaccept(Impl& s, const Args& a)
{
    auto txs = DecodeTxArray(a, 0);
    const int64_t maxrate = MaxFeeRate(a, 1);
    json::array out;
    TxOverlay overlay;
    bool failed = false;
    std::vector<json::object> results;
    for (const auto& tx : txs) {
        json::object r;
        r["txid"] = tx.GetTxid().ToString();
        r["wtxid"] = tx.GetWtxid().ToString();
        if (failed) {
            results.push_back(std::move(r));
            continue;
        }
        AcceptResult res = s.node->CheckTx(tx, overlay, true);
        if (res.ok && maxrate != 0 && res.fee.sats() > FeeAt(maxrate, res.vsize)) {
            res.ok = false;
            res.reason = "max-fee-exceeded";
            res.debug.clear();
        }
        if (res.ok) {
            r["allowed"] = true;
            r["vsize"] = res.vsize;
            r["fees"] = FeesJson(res.fee, res.vsize, {tx.GetWtxid().ToString()});
            overlay.push_back(&tx);
        } else {
            failed = true;
            r["allowed"] = false;
            if (res.missing_inputs) {
                r["reject-reason"] = "missing-inputs";
            } else {
                r["reject-reason"] = res.reason;
                r["reject-details"] = res.Message();
            }
        }
        results.push_back(std::move(r));
    }
    if (failed && txs.size() > 1) {
        // In a package, only the failing tx reports a verdict.
        for (auto& r : results) {
            if (r.contains("allowed") && r["allowed"].as_bool()) {
                r.erase("allowed");
                r.erase("vsize");
                r.erase("fees");
            }
        }
    }
    for (auto& r : results) out.push_back(std::move(r));
    return out;
}

json::value sendrawtransaction(Impl& s, const Args& a)
{
    auto tx = DecodeTx(a.Str(0));
    if (!tx) throw RpcError(-22, "TX decode failed. Make sure the tx has at least one input.");
    const int64_t maxrate = MaxFeeRate(a, 1);
    int64_t maxburn = 0;
    if (a.Has(2)) {
        auto b = ParseAmount(a[2]);
        if (!b) throw RpcError(-3, "Invalid amount");
        maxburn = *b;
    }
    for (const auto& o : tx->vout()) {
        const bool unspendable = (!o.script_pubkey.empty() && o.script_pubkey[0] == 0x6a) || o.script_pubkey.size() > 10000;
        if (unspendable && o.value.sats() > maxburn) throw RpcError(-25, "Unspendable output exceeds maximum configured by user (maxburnamount)");
    }
    Node& n = *s.node;
    for (uint32_t i = 0; i < tx->vout().size(); ++i) {
        if (n.GetUtxo(OutPoint{tx->GetTxid(), i})) throw RpcError(-27, "Transaction outputs already in utxo set");
    }
    if (n.GetMempool(tx->GetTxid())) return json::string(tx->GetTxid().ToString());
    AcceptResult check = n.CheckTx(*tx, {}, true);
    if (!check.ok) throw RpcError(check.missing_inputs ? -25 : -26, check.Message());
    if (maxrate != 0 && check.fee.sats() > FeeAt(maxrate, check.vsize)) throw RpcError(-25, "Fee exceeds maximum configured by user (e.g. -maxtxfee, maxfeerate)");
    AcceptResult r = n.AcceptToMempool(*tx, true);
    if (!r.ok) throw RpcError(r.missing_inputs ? -25 : -26, r.Message());
    return json::string(tx->GetTxid().ToString());
}

json::value submitpackage(Impl& s, const Args& a)
{
    auto txs = DecodeTxArray(a, 0);
    Node& n = *s.node;
    // Topology: child last, every other tx a direct parent of it, parents independent.
    if (txs.size() > 1) {
        const auto& child = txs.back();
        for (size_t i = 0; i + 1 < txs.size(); ++i) {
            bool spent_by_child = std::any_of(child.vin().begin(), child.vin().end(), [&](const TxIn& in) { return in.prevout.txid == txs[i].GetTxid(); });
            bool depends_on_later = false;
            for (size_t j = i + 1; j + 1 < txs.size(); ++j) {
                for (const auto& in : txs[i].vin()) depends_on_later = depends_on_later || in.prevout.txid == txs[j].GetTxid();
            }
            bool depends_on_child = std::any_of(txs[i].vin().begin(), txs[i].vin().end(), [&](const TxIn& in) { return in.prevout.txid == child.GetTxid(); });
            if (!spent_by_child || depends_on_later || depends_on_child) {
                throw RpcError(-25, "package topology disallowed. not child-with-parents or parents depend on each other.");
            }
        }
    }
    json::object results;
    json::array replaced;
    std::vector<const vw::Transaction*> fresh;
    for (const auto& tx : txs) {
        if (!n.GetMempool(tx.GetTxid())) fresh.push_back(&tx);
    }
    // Individual evaluation first; if only fees fall short, evaluate the package feerate.
    TxOverlay overlay;
    bool individually_ok = true;
    std::vector<AcceptResult> res;
    for (const auto* tx : fresh) {
        AcceptResult r = n.CheckTx(*tx, overlay, true);
        if (!r.ok && r.reason == "min relay fee not met") {
            individually_ok = false;
            r = n.CheckTx(*tx, overlay, false);
        }
        res.push_back(r);
        overlay.push_back(tx);
    }
    auto fail = [&](const std::string& msg, const std::vector<std::pair<const vw::Transaction*, std::string>>& errs) {
        json::object o;
        o["package_msg"] = msg;
        json::object tr;
        for (const auto& [tx, e] : errs) {
            json::object r;
            r["txid"] = tx->GetTxid().ToString();
            r["error"] = e;
            tr[tx->GetWtxid().ToString()] = std::move(r);
        }
        o["tx-results"] = std::move(tr);
        o["replaced-transactions"] = json::array{};
        return json::value(std::move(o));
    };
    std::vector<std::pair<const vw::Transaction*, std::string>> errs;
    for (size_t i = 0; i < fresh.size(); ++i) {
        if (!res[i].ok) errs.emplace_back(fresh[i], res[i].missing_inputs ? "missing-inputs" : res[i].Message());
    }
    if (!errs.empty()) return fail("transaction failed", errs);
    std::optional<int64_t> pkg_rate;
    std::vector<std::string> pkg_wtxids;
    if (!individually_ok) {
        int64_t fee = 0;
        size_t vsize = 0;
        for (size_t i = 0; i < fresh.size(); ++i) {
            fee += res[i].fee.sats();
            vsize += res[i].vsize;
            pkg_wtxids.push_back(fresh[i]->GetWtxid().ToString());
        }
        const int64_t need = (100 * static_cast<int64_t>(vsize) + 999) / 1000;
        if (fee < need) {
            for (const auto* tx : fresh) errs.emplace_back(tx, "package feerate too low");  // simplified
            return fail("transaction failed", errs);
        }
        pkg_rate = fee * 1000 / static_cast<int64_t>(vsize);
    }
    for (const auto& tx : txs) {
        json::object r;
        r["txid"] = tx.GetTxid().ToString();
        auto it = std::find(fresh.begin(), fresh.end(), &tx);
        if (it == fresh.end()) {
            const auto* e = n.GetMempool(tx.GetTxid());
            if (e->tx.GetWtxid() != tx.GetWtxid()) r["other-wtxid"] = e->tx.GetWtxid().ToString();
            r["vsize"] = e->tx.VSize();
            json::object f;
            f["base"] = AmountValue(e->fee);
            r["fees"] = std::move(f);
        } else {
            const size_t i = static_cast<size_t>(it - fresh.begin());
            AcceptResult done = n.AcceptToMempool(tx, /*check_fee=*/!pkg_rate);
            for (const auto& c : done.conflicts) replaced.push_back(json::string(c.ToString()));
            r["vsize"] = res[i].vsize;
            r["fees"] = pkg_rate ? FeesJson(res[i].fee, res[i].vsize, pkg_wtxids, pkg_rate) : FeesJson(res[i].fee, res[i].vsize, {tx.GetWtxid().ToString()});
        }
        results[tx.GetWtxid().ToString()] = std::move(r);
    }
    json::object o;
    o["package_msg"] = "success";
    o["tx-results"] = std::move(results);
    o["replaced-transactions"] = std::move(replaced);
    return o;
}

json::value estimatesmartfee(Impl& s, const Args& a)
{
    int64_t target = a.Int(0, 6);
    if (target < 1 || target > 1008) throw RpcError(-8, "Invalid conf_target, must be between 1 and 1008");
    if (a.Has(1)) {
        const std::string mode = a.Str(1);
        if (mode != "economical" && mode != "conservative" && mode != "unset" && mode != "ECONOMICAL" && mode != "CONSERVATIVE" && mode != "UNSET") {
            throw RpcError(-8, "Invalid estimate_mode parameter, must be one of: \"unset\", \"economical\", \"conservative\"");
        }
    }
    json::object o;
    if (!s.fee_estimate) {
        o["errors"] = json::array{"Insufficient data or no feerate found"};
        o["blocks"] = 0;
        return o;
    }
    o["feerate"] = AmountValue(std::max<int64_t>(*s.fee_estimate, 100));
    o["blocks"] = std::max<int64_t>(target, 2);
    return o;
}

json::value getzmqnotifications(Impl& s, const Args&)
{
    json::array out;
    for (const auto& n : s.zmq->Notifiers()) {
        json::object o;
        o["type"] = n.type;
        o["address"] = n.address;
        o["hwm"] = n.hwm;
        out.push_back(std::move(o));
    }
    return out;
}

json::object Buried(int height)
{
    json::object o;
    o["type"] = "buried";
    o["active"] = true;
    o["height"] = height;
    return o;
}

json::value getdeploymentinfo(Impl& s, const Args& a)
{
    const BlockIndex* idx = a.Has(0) ? FindBlock(s, a[0], "blockhash") : s.node->Tip();
    json::object o;
    o["hash"] = idx->hash.ToString();
    o["height"] = idx->height;
    o["script_flags"] = json::array{"CHECKLOCKTIMEVERIFY", "CHECKSEQUENCEVERIFY", "DERSIG", "NULLDUMMY", "P2SH", "TAPROOT", "WITNESS"};
    json::object d;
    d["bip34"] = Buried(1);
    d["bip66"] = Buried(1);
    d["bip65"] = Buried(1);
    d["csv"] = Buried(1);
    d["segwit"] = Buried(0);
    {
        json::object td;
        td["type"] = "bip9";
        td["active"] = false;
        json::object b;
        b["start_time"] = 0;
        b["timeout"] = INT64_MAX;
        b["min_activation_height"] = 0;
        b["status"] = "defined";
        b["since"] = 0;
        b["status_next"] = "defined";
        td["bip9"] = std::move(b);
        d["testdummy"] = std::move(td);
    }
    auto active_bip9 = [] {
        json::object t;
        t["type"] = "bip9";
        t["height"] = 0;
        t["active"] = true;
        json::object b;
        b["start_time"] = -1;
        b["timeout"] = INT64_MAX;
        b["min_activation_height"] = 0;
        b["status"] = "active";
        b["since"] = 0;
        b["status_next"] = "active";
        t["bip9"] = std::move(b);
        return t;
    };
    d["taproot"] = active_bip9();
    if (s.cfg.vault_active) {
        // The OP_VAULT prototype node: CTV and VAULT always active on regtest.
        d["checktemplateverify"] = active_bip9();
        d["vault"] = active_bip9();
    }
    o["deployments"] = std::move(d);
    return o;
}

json::value uptime(Impl& s, const Args&)
{
    return std::chrono::duration_cast<std::chrono::seconds>(std::chrono::steady_clock::now() - s.start_time).count();
}

json::value stop(Impl& s, const Args&)
{
    s.after_reply.push_back([&s] { s.Shutdown(); });
    return json::string("Bitcoin Core stopping");
}

json::value getmininginfo(Impl& s, const Args&)
{
    const auto* tip = s.node->Tip();
    json::object o;
    o["blocks"] = s.node->Height();
    if (s.last_template) {
        o["currentblockweight"] = s.last_template->first;
        o["currentblocktx"] = s.last_template->second;
    }
    o["bits"] = BitsHex(tip->header.bits);
    o["difficulty"] = DoubleValue(Difficulty(tip->header.bits));
    o["target"] = TargetHex(tip->header.bits);
    o["networkhashps"] = DoubleValue(0);
    o["pooledtx"] = s.node->MempoolInOrder().size();
    o["blockmintxfee"] = AmountValue(1);
    o["chain"] = "regtest";
    json::object next;
    next["height"] = s.node->Height() + 1;
    next["bits"] = BitsHex(tip->header.bits);
    next["difficulty"] = DoubleValue(Difficulty(tip->header.bits));
    next["target"] = TargetHex(tip->header.bits);
    o["next"] = std::move(next);
    o["warnings"] = json::array{};
    return o;
}

json::value getindexinfo(Impl&, const Args&) { return json::object{}; }

Bytes OutputScript(const std::string& target, const char* err)
{
    auto spk = ParseOutputTarget(target);
    if (!spk) throw RpcError(-5, err);
    return *spk;
}

json::value generatetoaddress(Impl& s, const Args& a)
{
    const auto spk = OutputScript(a.Str(1), "Error: Invalid address");
    json::array out;
    for (const auto& h : s.GenerateBlocks(static_cast<int>(a.Int(0, 0)), spk)) out.push_back(json::string(h));
    return out;
}

json::value generate(Impl& s, const Args& a)
{
    const auto spk = OutputScript(a.Has(1) ? a.Str(1) : DefaultMiningAddress(), "Error: Invalid address");
    json::array out;
    for (const auto& h : s.GenerateBlocks(static_cast<int>(a.Int(0, 1)), spk)) out.push_back(json::string(h));
    return out;
}

json::value generateblock(Impl& s, const Args& a)
{
    const auto spk = OutputScript(a.Str(0), "Error: Invalid address or descriptor");
    Node& n = *s.node;
    std::vector<vw::Transaction> txs;
    for (const auto& v : a[1].get_array()) {
        const std::string str = v.is_string() ? std::string(v.get_string()) : std::string{};
        if (auto id = Txid::FromHex(str)) {
            const auto* e = n.GetMempool(*id);
            if (!e) throw RpcError(-5, "Transaction " + str + " not in mempool.");
            txs.push_back(e->tx);
        } else {
            auto tx = DecodeTx(str);
            if (!tx) throw RpcError(-22, "Transaction decode failed for " + str + ". Make sure the tx has at least one input.");
            txs.push_back(std::move(*tx));
        }
    }
    auto built = n.BuildBlock(n.Tip(), spk, txs);
    if (!built.error.empty()) throw RpcError(-25, built.error);
    json::object o;
    if (!a.Bool(2, true)) {
        o["hash"] = built.block.header.GetHash().ToString();
        o["hex"] = HexStr(SerializeBlock(built.block));
        return o;
    }
    const auto* idx = n.SubmitBlock(std::move(built.block));
    o["hash"] = idx->hash.ToString();
    return o;
}

json::value invalidateblock(Impl& s, const Args& a)
{
    const auto h = ParseHashV<BlockHash>(a[0], "blockhash");
    auto* idx = s.node->LookupMutable(h);
    if (!idx) throw RpcError(-5, "Block not found");
    if (idx->height == 0) throw RpcError(-8, "Cannot invalidate the genesis block (vw-regtest-sim)");
    s.node->InvalidateBlock(idx);
    return nullptr;
}

json::value reconsiderblock(Impl& s, const Args& a)
{
    const auto h = ParseHashV<BlockHash>(a[0], "blockhash");
    auto* idx = s.node->LookupMutable(h);
    if (!idx) throw RpcError(-5, "Block not found");
    s.node->ReconsiderBlock(idx);
    return nullptr;
}

json::value setmocktime(Impl& s, const Args& a)
{
    const int64_t t = a.Int(0, 0);
    if (t < 0) throw RpcError(-8, "Mocktime cannot be negative: " + std::to_string(t) + ".");
    if (t == 0) s.mocktime.reset();
    else s.mocktime = t;
    return nullptr;
}

// ---- simulator control -------------------------------------------------------------------------

json::value simdropzmq(Impl& s, const Args& a)
{
    s.zmq->DropNext(static_cast<uint64_t>(std::max<int64_t>(0, a.Int(0, 1))));
    return nullptr;
}
json::value simsilence(Impl& s, const Args& a)
{
    s.zmq->SetSilence(OnOff(a, 0));
    return nullptr;
}
json::value simrestart(Impl& s, const Args&)
{
    s.after_reply.push_back([&s] { s.BeginRestart([] {}); });
    return nullptr;
}
json::value simwarmup(Impl& s, const Args& a)
{
    s.warmup = OnOff(a, 0);
    s.warmup_msg = a.Has(1) ? a.Str(1) : "Loading block index\xe2\x80\xa6";
    return nullptr;
}
json::value simslow(Impl& s, const Args& a)
{
    s.slow = std::chrono::milliseconds(std::max<int64_t>(0, a.Int(0, 0)));
    return nullptr;
}
json::value simreorg(Impl& s, const Args& a)
{
    json::array out;
    for (const auto& h : s.DoReorg(static_cast<int>(a.Int(0, 1)))) out.push_back(json::string(h));
    return out;
}
json::value simunreachable(Impl& s, const Args& a)
{
    const bool on = OnOff(a, 0);
    const int64_t ms = a.Int(1, 0);
    s.after_reply.push_back([&s, on, ms] {
        s.SetUnreachable(on);
        if (on && ms > 0) {
            auto t = std::make_shared<asio::steady_timer>(s.io, std::chrono::milliseconds(ms));
            t->async_wait([&s, t](const boost::system::error_code&) { s.SetUnreachable(false); });
        }
    });
    return nullptr;
}
json::value simauthfail(Impl& s, const Args& a)
{
    s.authfail = static_cast<int>(std::max<int64_t>(0, a.Int(0, 1)));
    return nullptr;
}
json::value simsetfee(Impl& s, const Args& a)
{
    if (a.Has(0)) s.fee_estimate = a.Int(0, 0);
    else s.fee_estimate.reset();
    return nullptr;
}
json::value simreject(Impl& s, const Args& a)
{
    const std::string r = a.Str(0);
    if (r.empty()) s.reject_reason.reset();
    else s.reject_reason = r;
    return nullptr;
}

json::value simzmqgarbage(Impl& s, const Args& a)
{
    const auto kind = ParseZmqGarbage(a.Str(0));
    if (!kind) {
        throw RpcError(-8, "unknown kind (oneframe, twoframes, fourframes, shortbody, emptybody, unknowntopic, badlabel, badseqlength, "
                           "shortcounter, longcounter)");
    }
    s.ZmqGarbageNow(*kind, a.Has(1) ? a.Str(1) : "sequence");
    return nullptr;
}
json::value simzmqraw(Impl& s, const Args& a)
{
    std::vector<Bytes> frames;
    for (const auto& f : a[1].as_array()) {
        if (!f.is_string()) throw RpcError(-8, "frames must be hex strings");
        auto b = ParseHex(std::string_view{f.get_string()});
        if (!b) throw RpcError(-8, "frames must be hex strings");
        frames.push_back(std::move(*b));
    }
    s.zmq->SendRaw(a.Str(0), frames);
    return nullptr;
}
json::value simbadreply(Impl& s, const Args& a)
{
    const int n = static_cast<int>(std::max<int64_t>(0, a.Int(0, 1)));
    const auto kind = ParseBadReply(a.Has(1) ? a.Str(1) : "truncatedjson");
    if (!kind) throw RpcError(-8, "unknown kind (truncatedjson, wrongtype, nonhex, truncatedhex, notjson, emptybody)");
    s.bad_replies = {n, *kind, a.Has(2) ? a.Str(2) : std::string{}};
    return nullptr;
}

const std::map<std::string, Method>& Table()
{
    static const std::map<std::string, Method> t = {
        {"getblockchaininfo", {{}, getblockchaininfo}},
        {"getnetworkinfo", {{}, getnetworkinfo}},
        {"getbestblockhash", {{}, getbestblockhash}},
        {"getblockcount", {{}, getblockcount}},
        {"getblockhash", {{{"height", T::Num, true}}, getblockhash}},
        {"getblockheader", {{{"blockhash", T::Str, true}, {"verbose", T::Bool, false}}, getblockheader}},
        {"getblock", {{{"blockhash", T::Str, true}, {"verbosity", T::NumOrBool, false}}, getblock}},
        {"getchaintips", {{}, getchaintips}},
        {"getmempoolinfo", {{}, getmempoolinfo}},
        {"getrawmempool", {{{"verbose", T::Bool, false}, {"mempool_sequence", T::Bool, false}}, getrawmempool}},
        {"getmempoolentry", {{{"txid", T::Str, true}}, getmempoolentry}},
        {"getrawtransaction", {{{"txid", T::Str, true}, {"verbosity", T::NumOrBool, false}, {"blockhash", T::Str, false}}, getrawtransaction}},
        {"decoderawtransaction", {{{"hexstring", T::Str, true}, {"iswitness", T::Bool, false}}, decoderawtransaction}},
        {"gettxout", {{{"txid", T::Str, true}, {"n", T::Num, true}, {"include_mempool", T::Bool, false}}, gettxout}},
        {"gettxspendingprevout", {{{"outputs", T::Arr, true}}, gettxspendingprevout}},
        {"testmempoolaccept", {{{"rawtxs", T::Arr, true}, {"maxfeerate", T::Amount, false}}, testmempoolaccept}},
        {"sendrawtransaction", {{{"hexstring", T::Str, true}, {"maxfeerate", T::Amount, false}, {"maxburnamount", T::Amount, false}}, sendrawtransaction}},
        {"submitpackage", {{{"package", T::Arr, true}, {"maxfeerate", T::Amount, false}, {"maxburnamount", T::Amount, false}}, submitpackage}},
        {"estimatesmartfee", {{{"conf_target", T::Num, true}, {"estimate_mode", T::Str, false}}, estimatesmartfee}},
        {"getzmqnotifications", {{}, getzmqnotifications}},
        {"getdeploymentinfo", {{{"blockhash", T::Str, false}}, getdeploymentinfo}},
        {"uptime", {{}, uptime}},
        {"stop", {{{"wait", T::Num, false}}, stop}},
        {"getmininginfo", {{}, getmininginfo}},
        {"getindexinfo", {{{"index_name", T::Str, false}}, getindexinfo}},
        {"generatetoaddress", {{{"nblocks", T::Num, true}, {"address", T::Str, true}, {"maxtries", T::Num, false}}, generatetoaddress}},
        {"generateblock", {{{"output", T::Str, true}, {"transactions", T::Arr, true}, {"submit", T::Bool, false}}, generateblock}},
        {"generate", {{{"nblocks", T::Num, false}, {"address", T::Str, false}}, generate}},
        {"invalidateblock", {{{"blockhash", T::Str, true}}, invalidateblock}},
        {"reconsiderblock", {{{"blockhash", T::Str, true}}, reconsiderblock}},
        {"setmocktime", {{{"timestamp", T::Num, true}}, setmocktime}},
        {"simgenerate", {{{"nblocks", T::Num, false}, {"address", T::Str, false}}, generate, true}},
        {"simdropzmq", {{{"n", T::Num, false}}, simdropzmq, true}},
        {"simsilence", {{{"on", T::Any, true}}, simsilence, true}},
        {"simrestart", {{}, simrestart, true}},
        {"simwarmup", {{{"on", T::Any, true}, {"message", T::Str, false}}, simwarmup, true}},
        {"simslow", {{{"ms", T::Num, true}}, simslow, true}},
        {"simreorg", {{{"depth", T::Num, true}}, simreorg, true}},
        {"simunreachable", {{{"on", T::Any, true}, {"ms", T::Num, false}}, simunreachable, true}},
        {"simauthfail", {{{"n", T::Num, false}}, simauthfail, true}},
        {"simsetfee", {{{"sat_per_kvb", T::Num, false}}, simsetfee, true}},
        {"simreject", {{{"reason", T::Str, false}}, simreject, true}},
        {"simzmqgarbage", {{{"kind", T::Str, true}, {"topic", T::Str, false}}, simzmqgarbage, true}},
        {"simzmqraw", {{{"topic", T::Str, true}, {"frames", T::Arr, true}}, simzmqraw, true}},
        {"simbadreply", {{{"n", T::Num, true}, {"kind", T::Str, false}, {"method", T::Str, false}}, simbadreply, true}},
    };
    return t;
}

} // namespace

bool RegtestSim::Impl::IsSimMethod(const std::string& method)
{
    const auto& table = Table();
    auto it = table.find(method);
    return it != table.end() && it->second.sim;
}

json::value RegtestSim::Impl::Execute(const std::string& method, const json::value& params)
{
    const auto& table = Table();
    auto it = table.find(method);
    const bool sim = it != table.end() && it->second.sim;
    if (warmup && !sim) throw RpcError(-28, warmup_msg);
    if (it == table.end()) throw RpcError(-32601, "Method not found");
    json::value p = params;
    if (!p.is_array() && !p.is_object()) p = json::array{};
    Args args = Transform(method, it->second.params, p);
    return it->second.fn(*this, args);
}

} // namespace vw::sim
