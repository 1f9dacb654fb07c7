#pragma once
// Strict decoding of bitcoind RPC results. A reply that does not have the documented shape is
// an error the caller logs and survives (retry later), never a crash or a silent default.

#include "primitives/hash_types.h"
#include "util/bytes.h"
#include "util/expected.h"

#include <boost/json/value.hpp>

#include <string>
#include <vector>

namespace vw::chain {

using ReplyError = std::string;

struct BlockchainInfo {
    std::string chain;        //!< "main", "test", "testnet4", "signet", "regtest"
    int blocks{0};
    int headers{0};
    BlockHash best_block_hash;
    bool initial_block_download{false};
    bool pruned{false};
    int prune_height{0};      //!< lowest block with data, when pruned
};

struct RawMempool {
    std::vector<Txid> txids;
    uint64_t mempool_sequence{0};
};

struct ZmqNotification {
    std::string type;    //!< "pubrawtx", "pubhashblock", "pubsequence", ...
    std::string address; //!< e.g. "tcp://127.0.0.1:28332"
};

Expected<BlockHash, ReplyError> ParseBlockHashReply(const boost::json::value& v);
Expected<Txid, ReplyError> ParseTxidReply(const boost::json::value& v);
//! A hex string result (getblock verbosity 0, getrawtransaction verbosity 0).
Expected<Bytes, ReplyError> ParseHexReply(const boost::json::value& v);
Expected<BlockchainInfo, ReplyError> ParseBlockchainInfo(const boost::json::value& v);
//! getrawmempool false true.
Expected<RawMempool, ReplyError> ParseRawMempoolSeq(const boost::json::value& v);
Expected<std::vector<ZmqNotification>, ReplyError> ParseZmqNotifications(const boost::json::value& v);
//! getdeploymentinfo: whether the named deployment (e.g. "vault") exists and is active.
Expected<bool, ReplyError> ParseDeploymentActive(const boost::json::value& v, std::string_view name);
//! One transaction's verdict in a testmempoolaccept reply.
struct MempoolAcceptResult {
    std::string txid;
    //! false: the node did not finish validating it (a package stops at its first failure and
    //! gives the others no verdict).
    bool judged{true};
    bool allowed{false};
    std::string reject_reason; //!< "reject-reason", or the package's "package-error" (then not allowed)
};
//! testmempoolaccept: the verdicts, in the order the transactions were given.
Expected<std::vector<MempoolAcceptResult>, ReplyError> ParseTestMempoolAccept(const boost::json::value& v);
//! Returns: whether a submitpackage reply says every transaction is in the mempool. Core >= 27
//! says package_msg "success"; earlier nodes (v25, the OP_VAULT prototype) have no package_msg and
//! throw on failure, so their reply is a success when no transaction carries an "error".
bool PackageAccepted(const boost::json::value& reply);

} // namespace vw::chain
