#include "chain/rpc_replies.h"

#include "util/hex.h"

#include <boost/json.hpp>

namespace vw::chain {
namespace json = boost::json;

namespace {
const json::value* Member(const json::value& v, std::string_view key)
{
    if (!v.is_object()) return nullptr;
    return v.as_object().if_contains(key);
}

Expected<int, ReplyError> IntMember(const json::value& v, std::string_view key)
{
    const auto* m = Member(v, key);
    if (!m || !m->is_int64() || m->as_int64() < 0 || m->as_int64() > INT32_MAX) {
        return Unexpected{ReplyError{"field '" + std::string{key} + "' missing or not a non-negative integer"}};
    }
    return static_cast<int>(m->as_int64());
}

Expected<bool, ReplyError> BoolMember(const json::value& v, std::string_view key)
{
    const auto* m = Member(v, key);
    if (!m || !m->is_bool()) return Unexpected{ReplyError{"field '" + std::string{key} + "' missing or not a boolean"}};
    return m->as_bool();
}

template <typename Id>
Expected<Id, ReplyError> ParseId(const json::value& v)
{
    if (!v.is_string()) return Unexpected{ReplyError{"expected a hash string"}};
    auto id = Id::FromHex(std::string_view{v.as_string()});
    if (!id) return Unexpected{ReplyError{"not a 64-character hex hash"}};
    return *id;
}
} // namespace

Expected<BlockHash, ReplyError> ParseBlockHashReply(const json::value& v) { return ParseId<BlockHash>(v); }
Expected<Txid, ReplyError> ParseTxidReply(const json::value& v) { return ParseId<Txid>(v); }

Expected<Bytes, ReplyError> ParseHexReply(const json::value& v)
{
    if (!v.is_string()) return Unexpected{ReplyError{"expected a hex string"}};
    auto b = ParseHex(std::string_view{v.as_string()});
    if (!b) return Unexpected{ReplyError{"invalid hex"}};
    return std::move(*b);
}

Expected<BlockchainInfo, ReplyError> ParseBlockchainInfo(const json::value& v)
{
    if (!v.is_object()) return Unexpected{ReplyError{"getblockchaininfo result is not an object"}};
    BlockchainInfo info;
    const auto* chain = Member(v, "chain");
    if (!chain || !chain->is_string()) return Unexpected{ReplyError{"field 'chain' missing"}};
    info.chain = std::string(chain->as_string());
    auto blocks = IntMember(v, "blocks");
    if (!blocks) return Unexpected{blocks.error()};
    info.blocks = *blocks;
    auto headers = IntMember(v, "headers");
    if (!headers) return Unexpected{headers.error()};
    info.headers = *headers;
    const auto* best = Member(v, "bestblockhash");
    if (!best) return Unexpected{ReplyError{"field 'bestblockhash' missing"}};
    auto h = ParseBlockHashReply(*best);
    if (!h) return Unexpected{h.error()};
    info.best_block_hash = *h;
    auto ibd = BoolMember(v, "initialblockdownload");
    if (!ibd) return Unexpected{ibd.error()};
    info.initial_block_download = *ibd;
    auto pruned = BoolMember(v, "pruned");
    if (!pruned) return Unexpected{pruned.error()};
    info.pruned = *pruned;
    if (info.pruned) {
        auto ph = IntMember(v, "pruneheight");
        if (!ph) return Unexpected{ph.error()};
        info.prune_height = *ph;
    }
    return info;
}

Expected<RawMempool, ReplyError> ParseRawMempoolSeq(const json::value& v)
{
    const auto* txids = Member(v, "txids");
    const auto* seq = Member(v, "mempool_sequence");
    if (!txids || !txids->is_array()) return Unexpected{ReplyError{"field 'txids' missing or not an array"}};
    if (!seq || !(seq->is_int64() || seq->is_uint64())) return Unexpected{ReplyError{"field 'mempool_sequence' missing"}};
    RawMempool m;
    m.mempool_sequence = seq->is_uint64() ? seq->as_uint64() : static_cast<uint64_t>(seq->as_int64());
    m.txids.reserve(txids->as_array().size());
    for (const auto& t : txids->as_array()) {
        auto id = ParseTxidReply(t);
        if (!id) return Unexpected{id.error()};
        m.txids.push_back(*id);
    }
    return m;
}

Expected<std::vector<ZmqNotification>, ReplyError> ParseZmqNotifications(const json::value& v)
{
    if (!v.is_array()) return Unexpected{ReplyError{"getzmqnotifications result is not an array"}};
    std::vector<ZmqNotification> out;
    for (const auto& n : v.as_array()) {
        const auto* type = Member(n, "type");
        const auto* addr = Member(n, "address");
        if (!type || !type->is_string() || !addr || !addr->is_string()) {
            return Unexpected{ReplyError{"notification entry lacks 'type' or 'address'"}};
        }
        out.push_back({std::string(type->as_string()), std::string(addr->as_string())});
    }
    return out;
}

Expected<bool, ReplyError> ParseDeploymentActive(const json::value& v, std::string_view name)
{
    const auto* deps = Member(v, "deployments");
    if (!deps || !deps->is_object()) return Unexpected{ReplyError{"field 'deployments' missing or not an object"}};
    const auto* d = deps->as_object().if_contains(name);
    if (!d) return false;
    auto active = BoolMember(*d, "active");
    if (!active) return Unexpected{active.error()};
    return *active;
}

Expected<std::vector<MempoolAcceptResult>, ReplyError> ParseTestMempoolAccept(const json::value& v)
{
    if (!v.is_array()) return Unexpected{ReplyError{"not an array"}};
    std::vector<MempoolAcceptResult> out;
    for (const auto& e : v.as_array()) {
        if (!e.is_object()) return Unexpected{ReplyError{"an entry is not an object"}};
        const auto& o = e.as_object();
        MempoolAcceptResult r;
        const auto* txid = o.if_contains("txid");
        if (!txid || !txid->is_string()) return Unexpected{ReplyError{"an entry has no txid"}};
        r.txid = std::string(txid->as_string());
        if (const auto* a = o.if_contains("allowed")) {
            if (!a->is_bool()) return Unexpected{ReplyError{"'allowed' is not a boolean"}};
            r.allowed = a->as_bool();
        }
        for (const char* k : {"reject-reason", "package-error"}) {
            if (const auto* why = o.if_contains(k); why && why->is_string() && r.reject_reason.empty()) r.reject_reason = std::string(why->as_string());
        }
        r.judged = o.contains("allowed") || !r.reject_reason.empty();
        out.push_back(std::move(r));
    }
    return out;
}

bool PackageAccepted(const json::value& reply)
{
    if (!reply.is_object()) return false;
    const auto& o = reply.as_object();
    if (const auto* msg = o.if_contains("package_msg")) return msg->is_string() && msg->as_string() == "success";
    const auto* results = o.if_contains("tx-results");
    if (!results || !results->is_object() || results->as_object().empty()) return false;
    for (const auto& [_, r] : results->as_object()) {
        if (!r.is_object() || r.as_object().contains("error")) return false;
    }
    return true;
}

} // namespace vw::chain
