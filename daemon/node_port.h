#pragma once
// The node as the engine and the chain follower see it (in the spirit of Bitcoin Core's
// interfaces::Chain): typed calls, replies decoded and checked once, refusals classified. The
// daemon talks to bitcoind through BitcoindNode (JSON-RPC, every call bounded by the client's
// deadline); tests hand the same code an in-process node, so the engine's decisions run
// thousands of times a second without a socket.

#include "bitcoind_rpc.h"
#include "chain/rpc_replies.h"
#include "chain/send_outcome.h"
#include "primitives/block.h"
#include "vault/fees.h"

#include <boost/asio/awaitable.hpp>

#include <functional>
#include <optional>
#include <string>
#include <vector>

namespace vw::daemon {

//! A node's answer to a broadcast: its class, and the refusal as the node said it.
struct SendResult {
    chain::SendOutcome outcome{chain::SendOutcome::Accepted};
    std::optional<RpcError> error; //!< set unless accepted
    std::string Message() const { return error ? error->ToString() : std::string{}; }
};

//! The mempool floor (getmempoolinfo): the higher of minrelaytxfee and mempoolminfee.
struct MempoolInfo {
    std::optional<vault::FeeRate> floor;
};

class NodePort
{
public:
    virtual ~NodePort() = default;
    template <typename T>
    using Awaitable = boost::asio::awaitable<RpcResult<T>>;

    virtual Awaitable<chain::BlockchainInfo> GetBlockchainInfo() = 0;
    //! -8 when height is above the tip.
    virtual Awaitable<BlockHash> GetBlockHash(int height) = 0;
    //! The block, checked to hash to `hash`; -1 when the node pruned it, -5 when it has none.
    virtual Awaitable<Block> GetBlock(const BlockHash& hash) = 0;
    virtual Awaitable<chain::RawMempool> GetRawMempool() = 0;
    //! A mempool transaction, checked to hash to `txid`; -5 when the node does not have it.
    virtual Awaitable<Transaction> GetRawTransaction(const Txid& txid) = 0;
    virtual boost::asio::awaitable<SendResult> SendRawTransaction(const Transaction& tx) = 0;
    //! Returns: whether every transaction of the package is in the mempool now (child last).
    virtual Awaitable<bool> SubmitPackage(const std::vector<Transaction>& txs) = 0;
    //! The node's estimate for conf_target, or nullopt when it has too little data.
    virtual Awaitable<std::optional<vault::FeeRate>> EstimateSmartFee(int conf_target) = 0;
    virtual Awaitable<MempoolInfo> GetMempoolInfo() = 0;
    //! Whether getdeploymentinfo shows the named deployment active.
    virtual Awaitable<bool> DeploymentActive(std::string name) = 0;
    //! testmempoolaccept of txs as a package (parents first): the verdicts, nothing broadcast.
    virtual Awaitable<std::vector<chain::MempoolAcceptResult>> TestMempoolAccept(const std::vector<Transaction>& txs) = 0;
    virtual Awaitable<std::vector<chain::ZmqNotification>> GetZmqNotifications() = 0;
    //! Aborts the call in flight (shutdown).
    virtual void Cancel() {}
    //! Time spent waiting for the node (metrics).
    virtual std::chrono::nanoseconds busy() const { return {}; }
};

//! NodePort over bitcoind's JSON-RPC: a BitcoindRpc connection, or any function that answers
//! JSON-RPC calls as bitcoind does (tests: the regtest simulator called in-process).
class BitcoindNode final : public NodePort
{
public:
    using CallFn = std::function<boost::asio::awaitable<RpcResult<boost::json::value>>(std::string method, boost::json::value params)>;
    explicit BitcoindNode(BitcoindRpc& rpc);
    explicit BitcoindNode(CallFn call) : m_call(std::move(call)) {}

    Awaitable<chain::BlockchainInfo> GetBlockchainInfo() override;
    Awaitable<BlockHash> GetBlockHash(int height) override;
    Awaitable<Block> GetBlock(const BlockHash& hash) override;
    Awaitable<chain::RawMempool> GetRawMempool() override;
    Awaitable<Transaction> GetRawTransaction(const Txid& txid) override;
    boost::asio::awaitable<SendResult> SendRawTransaction(const Transaction& tx) override;
    Awaitable<bool> SubmitPackage(const std::vector<Transaction>& txs) override;
    Awaitable<std::optional<vault::FeeRate>> EstimateSmartFee(int conf_target) override;
    Awaitable<MempoolInfo> GetMempoolInfo() override;
    Awaitable<bool> DeploymentActive(std::string name) override;
    Awaitable<std::vector<chain::MempoolAcceptResult>> TestMempoolAccept(const std::vector<Transaction>& txs) override;
    Awaitable<std::vector<chain::ZmqNotification>> GetZmqNotifications() override;
    void Cancel() override
    {
        if (m_rpc) m_rpc->Cancel();
    }
    std::chrono::nanoseconds busy() const override { return m_rpc ? m_rpc->busy() : std::chrono::nanoseconds{}; }

private:
    boost::asio::awaitable<RpcResult<boost::json::value>> Call(std::string method, boost::json::value params) { return m_call(std::move(method), std::move(params)); }

    BitcoindRpc* m_rpc{nullptr};
    CallFn m_call;
};

//! Classifies a failed sendrawtransaction call (transport failures are Unreachable).
chain::SendOutcome Classify(const RpcError& e);

//! bitcoind's BTC/kvB JSON number as a feerate, or nullopt when it is not a sane one.
std::optional<vault::FeeRate> FeeRateFromBtcPerKvb(const boost::json::value& v);

} // namespace vw::daemon
