#include "node_port.h"

#include "off_thread.h"

#include "util/hex.h"

#include <boost/json.hpp>

#include <cmath>

namespace vw::daemon {
namespace json = boost::json;

namespace {
RpcError BadReply(std::string what) { return RpcError{RpcError::Kind::BadReply, 0, std::move(what)}; }

template <typename T>
RpcResult<T> Fail(RpcError e)
{
    RpcResult<T> r;
    r.error = std::move(e);
    return r;
}
template <typename T>
RpcResult<T> Ok(T v)
{
    RpcResult<T> r;
    r.value = std::move(v);
    return r;
}
} // namespace

BitcoindNode::BitcoindNode(BitcoindRpc& rpc)
    : m_rpc(&rpc), m_call([&rpc](std::string method, json::value params) { return rpc.Call(std::move(method), std::move(params)); })
{
}

chain::SendOutcome Classify(const RpcError& e)
{
    if (e.kind == RpcError::Kind::Transport || e.kind == RpcError::Kind::Auth || e.IsWarmingUp()) return chain::SendOutcome::Unreachable;
    if (e.kind != RpcError::Kind::Rpc) return chain::SendOutcome::Unreachable; // a reply we cannot read says nothing about the tx
    return chain::ClassifySendError(e.code, e.message);
}

std::optional<vault::FeeRate> FeeRateFromBtcPerKvb(const json::value& v)
{
    if (!v.is_number()) return std::nullopt;
    const double btc = v.to_number<double>();
    if (!(btc >= 0 && btc < 21e6)) return std::nullopt;
    return vault::FeeRate{static_cast<int64_t>(std::llround(btc * 1e8))};
}

NodePort::Awaitable<chain::BlockchainInfo> BitcoindNode::GetBlockchainInfo()
{
    auto r = co_await Call("getblockchaininfo", Params());
    if (!r) co_return Fail<chain::BlockchainInfo>(*r.error);
    auto info = chain::ParseBlockchainInfo(*r.value);
    if (!info) co_return Fail<chain::BlockchainInfo>(BadReply("getblockchaininfo: " + info.error()));
    co_return Ok(std::move(*info));
}

NodePort::Awaitable<BlockHash> BitcoindNode::GetBlockHash(int height)
{
    auto r = co_await Call("getblockhash", Params(height));
    if (!r) co_return Fail<BlockHash>(*r.error);
    auto h = chain::ParseBlockHashReply(*r.value);
    if (!h) co_return Fail<BlockHash>(BadReply("getblockhash: " + h.error()));
    co_return Ok(*h);
}

NodePort::Awaitable<Block> BitcoindNode::GetBlock(const BlockHash& hash)
{
    auto r = co_await Call("getblock", Params(hash.ToString(), 0));
    if (!r) co_return Fail<Block>(*r.error);
    // A full block is megabytes of hex: decoded on the helper thread (docs/zmq.md).
    const bool large = r.value->is_string() && r.value->as_string().size() >= kOffThreadBytes;
    auto decode = [hash, v = std::move(*r.value)]() -> RpcResult<Block> {
        auto bytes = chain::ParseHexReply(v);
        if (!bytes) return Fail<Block>(BadReply("getblock " + hash.ToString() + ": " + bytes.error()));
        auto block = DecodeBlock(*bytes);
        if (!block) return Fail<Block>(BadReply("getblock " + hash.ToString() + ": " + std::string(ToString(block.error()))));
        if (block->header.GetHash() != hash) return Fail<Block>(BadReply("getblock " + hash.ToString() + ": the block does not hash to it"));
        return Ok(std::move(*block));
    };
    if (!large) co_return decode();
    co_return co_await OffThread(std::move(decode)); // not in a ?:, which GCC 12 got wrong around a co_await (both arms ran)
}

NodePort::Awaitable<chain::RawMempool> BitcoindNode::GetRawMempool()
{
    auto r = co_await Call("getrawmempool", Params(false, true));
    if (!r) co_return Fail<chain::RawMempool>(*r.error);
    // A mainnet snapshot is 300,000 txids (20-35 ms of hex): decoded on the helper thread.
    const json::value* ids = r.value->is_object() ? r.value->as_object().if_contains("txids") : nullptr;
    const bool large = ids && ids->is_array() && ids->as_array().size() * 67 >= kOffThreadBytes;
    auto decode = [v = std::move(*r.value)]() -> RpcResult<chain::RawMempool> {
        auto snap = chain::ParseRawMempoolSeq(v);
        if (!snap) return Fail<chain::RawMempool>(BadReply("getrawmempool: " + snap.error()));
        return Ok(std::move(*snap));
    };
    if (!large) co_return decode();
    co_return co_await OffThread(std::move(decode));
}

NodePort::Awaitable<Transaction> BitcoindNode::GetRawTransaction(const Txid& txid)
{
    auto r = co_await Call("getrawtransaction", Params(txid.ToString(), 0));
    if (!r) co_return Fail<Transaction>(*r.error);
    auto bytes = chain::ParseHexReply(*r.value);
    if (!bytes) co_return Fail<Transaction>(BadReply("getrawtransaction " + txid.ToString() + ": " + bytes.error()));
    auto tx = DecodeTransaction(*bytes);
    if (!tx || tx->GetTxid() != txid) co_return Fail<Transaction>(BadReply("getrawtransaction " + txid.ToString() + ": malformed reply"));
    co_return Ok(std::move(*tx));
}

boost::asio::awaitable<SendResult> BitcoindNode::SendRawTransaction(const Transaction& tx)
{
    auto r = co_await Call("sendrawtransaction", Params(HexStr(SerializeTransaction(tx))));
    if (r) co_return SendResult{chain::SendOutcome::Accepted, std::nullopt};
    co_return SendResult{Classify(*r.error), *r.error};
}

NodePort::Awaitable<bool> BitcoindNode::SubmitPackage(const std::vector<Transaction>& txs)
{
    json::array pkg;
    for (const auto& t : txs) pkg.emplace_back(HexStr(SerializeTransaction(t)));
    auto r = co_await Call("submitpackage", Params(std::move(pkg)));
    if (!r) co_return Fail<bool>(*r.error);
    co_return Ok(chain::PackageAccepted(*r.value));
}

NodePort::Awaitable<std::optional<vault::FeeRate>> BitcoindNode::EstimateSmartFee(int conf_target)
{
    auto r = co_await Call("estimatesmartfee", Params(conf_target));
    if (!r) co_return Fail<std::optional<vault::FeeRate>>(*r.error);
    if (!r.value->is_object()) co_return Fail<std::optional<vault::FeeRate>>(BadReply("estimatesmartfee: not an object"));
    // A node without enough data answers {"errors": [...]} and no feerate.
    const auto* f = r.value->as_object().if_contains("feerate");
    co_return Ok(f ? FeeRateFromBtcPerKvb(*f) : std::nullopt);
}

NodePort::Awaitable<MempoolInfo> BitcoindNode::GetMempoolInfo()
{
    auto r = co_await Call("getmempoolinfo", Params());
    if (!r) co_return Fail<MempoolInfo>(*r.error);
    if (!r.value->is_object()) co_return Fail<MempoolInfo>(BadReply("getmempoolinfo: not an object"));
    MempoolInfo info;
    for (const char* k : {"minrelaytxfee", "mempoolminfee"}) {
        if (const auto* v = r.value->as_object().if_contains(k)) {
            if (auto rate = FeeRateFromBtcPerKvb(*v)) info.floor = info.floor ? std::max(*info.floor, *rate) : *rate;
        }
    }
    co_return Ok(info);
}

NodePort::Awaitable<bool> BitcoindNode::DeploymentActive(std::string name)
{
    auto r = co_await Call("getdeploymentinfo", Params());
    if (!r) co_return Fail<bool>(*r.error);
    auto active = chain::ParseDeploymentActive(*r.value, name);
    if (!active) co_return Fail<bool>(BadReply("getdeploymentinfo: " + active.error()));
    co_return Ok(*active);
}

NodePort::Awaitable<std::vector<chain::MempoolAcceptResult>> BitcoindNode::TestMempoolAccept(const std::vector<Transaction>& txs)
{
    json::array pkg;
    for (const auto& t : txs) pkg.emplace_back(HexStr(SerializeTransaction(t)));
    auto r = co_await Call("testmempoolaccept", Params(std::move(pkg)));
    if (!r) co_return Fail<std::vector<chain::MempoolAcceptResult>>(*r.error);
    auto v = chain::ParseTestMempoolAccept(*r.value);
    if (!v) co_return Fail<std::vector<chain::MempoolAcceptResult>>(BadReply("testmempoolaccept: " + v.error()));
    if (v->size() != txs.size()) co_return Fail<std::vector<chain::MempoolAcceptResult>>(BadReply("testmempoolaccept: one verdict per transaction expected"));
    co_return Ok(std::move(*v));
}

NodePort::Awaitable<std::vector<chain::ZmqNotification>> BitcoindNode::GetZmqNotifications()
{
    auto r = co_await Call("getzmqnotifications", Params());
    if (!r) co_return Fail<std::vector<chain::ZmqNotification>>(*r.error);
    auto n = chain::ParseZmqNotifications(*r.value);
    if (!n) co_return Fail<std::vector<chain::ZmqNotification>>(BadReply("getzmqnotifications: " + n.error()));
    co_return Ok(std::move(*n));
}

} // namespace vw::daemon
