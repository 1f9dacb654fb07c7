#pragma once
// vw::sim::RegtestSim: a protocol-faithful bitcoind v31 regtest node simulator for tests.
// Real HTTP/1.1 JSON-RPC (Boost.Beast) and real ZMQ PUB sockets on 127.0.0.1, driven by its own
// io_context thread. Control methods are thread-safe (they run on that thread) and are also
// reachable over RPC as sim* methods. See tests/sim/README.md for what is faithful.

#include "node.h"
#include "zmq_pub.h"

#include <boost/json.hpp>

#include <chrono>
#include <cstdint>
#include <filesystem>
#include <memory>
#include <optional>
#include <stdexcept>
#include <string>
#include <vector>

namespace vw::sim {

struct SimConfig {
    uint16_t rpc_port{0};            //!< 0: the OS picks a free port (kept across restarts)
    std::string rpc_user;            //!< with rpc_password: user/password auth
    std::string rpc_password;        //!< empty: cookie auth in <datadir>/regtest/.cookie
    std::filesystem::path datadir;   //!< required for cookie auth
    std::vector<ZmqPubConfig> zmq;
    int zmq_hwm{1000};
    bool vault_active{false};        //!< getdeploymentinfo lists vault + checktemplateverify active
    //! A BIP-443 node (Merkleize/bitcoin ccv-no-deferredchecks): 0xbb is OP_CHECKCONTRACTVERIFY.
    //! Every tx entering the mempool (sendrawtransaction, testmempoolaccept, submitpackage, reorg
    //! and restart re-adds) has its tapscript spends run by ccv_interp.h and is refused with the
    //! CCV node's reason ("mandatory-script-verify-flag-failed (...)" or "non-mandatory-script-
    //! verify-flag (...)"); BIP-68 relative locks are enforced ("non-BIP68-final"); generateblock
    //! refuses txs that break either. Takes precedence over vault_active for 0xbb (the two
    //! prototypes give the byte different meanings; getdeploymentinfo still lists vault).
    bool ccv_active{false};
    //! Without ccv_active and vault_active (Bitcoin Core v31): refuse a mempool spend of a
    //! tapscript leaf holding an OP_SUCCESSx, 0xbb included, with v31's "mempool-script-verify-
    //! flag-failed (OP_SUCCESSx reserved for soft-fork upgrades), input N of ..." (blocks still
    //! take them). Off by default: tests that spend OP_VAULT leaves on a default simulator rely on
    //! their acceptance. With vault_active, 0xbb is the prototype's OP_VAULT, which the simulator
    //! does not model: such spends stay unchecked whatever this says.
    bool discourage_op_success{false};
    std::chrono::milliseconds auth_fail_delay{20};         //!< bitcoind: 250 ms
    std::chrono::milliseconds restart_downtime{150};       //!< RPC/ZMQ down during simrestart
    std::chrono::milliseconds restart_announce_delay{50};  //!< ZMQ bound -> mempool re-announced
    bool keep_mempool_on_restart{true};                    //!< mempool.dat persisted
    //! Close and rebind the ZMQ sockets on simrestart (subscribers see a TCP disconnect). Off by
    //! default: with libzmq 4.3.4 an in-process rebind left reconnected SUBs without data (see
    //! README); with it off the sockets stay bound and only the counters restart at 0.
    bool restart_rebinds_zmq{false};
    std::optional<int64_t> mocktime;                       //!< fixed clock (seconds), else system
    //! Keep the active chain and the mempool in <datadir>/regtest/ (written after every change and
    //! at stop, read at start) so a stopped or killed process comes back with its chain, as
    //! bitcoind does. vw-regtest-sim turns this on when --datadir is given.
    bool persist{false};
};

//! Malformed ZMQ messages (fault injection). Each goes out on the socket of the chosen topic,
//! carrying that notifier's next counter where it has a counter frame, without advancing it.
enum class ZmqGarbage {
    OneFrame,      //!< [topic]
    FourFrames,    //!< [topic, body, counter, "extra"]
    TwoFrames,     //!< [topic, body]
    ShortBody,     //!< [topic, 10 bytes, counter]
    EmptyBody,     //!< [topic, "", counter]
    UnknownTopic,  //!< [topic + "zz", 32 bytes, counter]: still matches a SUB's prefix filter
    BadLabel,      //!< [topic, hash || 'X', counter] (a sequence body with an unknown label)
    BadSeqLength,  //!< [topic, hash || 'A', counter] (an 'A' without its mempool sequence)
    ShortCounter,  //!< [topic, body, 3-byte counter]
    LongCounter,   //!< [topic, body, 8-byte counter]
};
//! Malformed HTTP JSON-RPC replies (fault injection). Only successful replies are corrupted.
enum class BadReply {
    TruncatedJson,  //!< the JSON text cut in half (Content-Length matches what is sent)
    WrongType,      //!< result of another JSON type (string -> 42, number -> "42", object -> [], ...)
    NonHex,         //!< a string result with one non-hex character in the middle
    TruncatedHex,   //!< a string result cut to about half (an even number of hex digits)
    NotJson,        //!< HTTP 200 with an HTML body
    EmptyBody,      //!< HTTP 200 with an empty body
};
std::optional<ZmqGarbage> ParseZmqGarbage(const std::string& name);
std::optional<BadReply> ParseBadReply(const std::string& name);

//! An RPC error as bitcoind reports it ({code, message}).
struct RpcError : std::runtime_error {
    RpcError(int c, const std::string& msg) : std::runtime_error(msg), code(c) {}
    int code;
};

class RegtestSim
{
public:
    explicit RegtestSim(SimConfig cfg);
    ~RegtestSim();
    RegtestSim(const RegtestSim&) = delete;
    RegtestSim& operator=(const RegtestSim&) = delete;

    //! Binds RPC and ZMQ, writes the cookie, connects genesis, starts the io thread.
    void Start();
    //! Shuts down (as RPC stop does): closes sockets, deletes the cookie, joins the thread.
    void Stop();
    //! Waits until an RPC `stop` (or Stop()) shut the node down. Returns false on timeout.
    bool WaitForShutdown(std::chrono::milliseconds timeout);
    bool IsShutdown() const;

    uint16_t RpcPort() const;
    std::string RpcUser() const;
    std::string RpcPassword() const;  //!< the cookie secret under cookie auth
    std::string AuthorizationHeader() const;  //!< "Basic base64(user:password)"
    std::filesystem::path CookiePath() const;
    std::string ZmqAddress(const std::string& topic) const;

    // ---- control (thread-safe) ----
    //! Calls any RPC method in-process (no HTTP). Throws RpcError.
    boost::json::value Call(const std::string& method, boost::json::array params = {});
    std::vector<std::string> Generate(int n, const std::string& address = {});
    //! Disconnects `depth` blocks and connects depth+1 coinbase-only blocks on the fork point, as
    //! a competing miner's longer branch would. Returns the new block hashes.
    std::vector<std::string> Reorg(int depth);
    void DropZmq(uint64_t n);
    void SetZmqSilence(bool on);
    //! Process restart: RPC and ZMQ down for restart_downtime, ZMQ counters and mempool_sequence
    //! reset, new cookie, mempool kept (and re-announced) or cleared. Returns when back up.
    void Restart();
    //! The same, and the node comes back without its last n blocks (a crash before they were
    //! flushed): they are unknown to it afterwards, whoever saw them.
    void RestartLosingBlocks(int n);
    void SetWarmup(bool on, const std::string& message = "Loading block index\xe2\x80\xa6");
    void SetSlow(std::chrono::milliseconds delay);
    void SetUnreachable(bool on);
    void FailAuth(int n);
    void SetPolicyHook(TxPolicyHook hook);
    //! Evicts a mempool transaction and its descendants (as expiry or the size limit would).
    bool Evict(const Txid& txid);
    //! -blockmintxfee (sat/kvB): mined blocks leave out packages paying less.
    void SetBlockMinFee(int64_t sat_per_kvb);
    //! estimatesmartfee answer in sat/kvB; nullopt -> "Insufficient data or no feerate found".
    void SetFeeEstimate(std::optional<int64_t> sat_per_kvb);
    //! Publishes one malformed message on the socket that carries `topic`.
    void PublishZmqGarbage(ZmqGarbage kind, const std::string& topic = "sequence");
    //! Publishes arbitrary frames as one message on the socket that carries `topic`.
    void PublishZmqRaw(const std::string& topic, std::vector<Bytes> frames);
    //! The next n successful HTTP JSON-RPC replies (to `method` only, if given; never to sim*
    //! methods, nor to Call()) are malformed as `kind`. Replaces any pending count; 0 cancels.
    void CorruptReplies(int n, BadReply kind, const std::string& method = {});
    //! Corrupted replies still to be served.
    int PendingCorruptReplies();
    int Height();
    std::string BestBlockHash();

    struct Impl;

private:
    std::unique_ptr<Impl> m;
};

//! The address the simulator mines to by default (P2WPKH, a key nobody holds).
std::string DefaultMiningAddress();

} // namespace vw::sim
