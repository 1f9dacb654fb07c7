#pragma once
// vaultwatchd configuration: a bitcoin.conf-style file ([section] keys become section.key) and
// the same options as --flags (docs/product.md §8). Flags override the file.

#include "util/expected.h"

#include <cstdint>
#include <filesystem>
#include <optional>
#include <string>
#include <vector>

namespace vw::daemon {

struct Config {
    std::string chain{"main"};
    std::filesystem::path datadir;      //!< base datadir (as given)
    std::filesystem::path conf;
    std::string rpcbind{"127.0.0.1"};
    uint16_t rpcport{0};
    std::vector<std::string> rpcauth;
    std::string metricsbind;
    std::string loglevel{"info"};
    std::string logfile;
    int start_height{-1};
    unsigned poll_seconds{5};
    std::string debug_eventlog; //!< tests: append chain events to this file
    uint32_t debug_db_max_pages{0}; //!< tests: cap the database (SQLITE_FULL beyond), 0 = off
    bool allow_unenforced_opvault{false}; //!< regtest only: accept opvault vaults on a node without OP_VAULT
    bool allow_unenforced_ccv{false};     //!< regtest only: accept ccv vaults without the enforcement probe

    //! Webhooks (docs/webhooks.md). The webhook= URLs are upserted at start with stable ids, all
    //! signed with webhooksecret and filtered by webhookevents; RPC-added hooks carry their own.
    std::vector<std::string> webhooks;
    std::string webhook_secret;
    std::string webhook_events{"*"};
    std::string webhook_cafile;          //!< PEM CA bundle for HTTPS endpoints (empty = system store)
    unsigned webhook_timeout{10};        //!< seconds per delivery attempt (connect to response)
    unsigned webhook_retry_hours{24};    //!< give a delivery up this long after its event
    unsigned webhook_max_backoff{600};   //!< seconds: the longest wait between two attempts
    unsigned webhook_min_backoff_ms{250}; //!< milliseconds: the wait before the first retry

    //! Fees (docs/fees.md): the fee wallet and the schedule recoveries follow.
    std::string feewallet_keyfile;        //!< empty = <netdir>/feewallet.key (generated at first start)
    int64_t feewallet_reserve{0};         //!< sats; feewallet.low fires below it (0 = off)
    int feewallet_coins{4};               //!< fee coins kept ready (BuildSplit); 0 = never split
    double fallback_feerate{20.0};        //!< sat/vB when the node has no estimate
    unsigned escalate_percent{25};        //!< feerate increase per block a recovery stays unconfirmed
    unsigned max_fee_percent{50};         //!< a recovery never pays more than this share of what it saves

    struct Bitcoind {
        std::string rpcconnect{"127.0.0.1"};
        uint16_t rpcport{0};
        std::string rpccookiefile;
        std::string rpcuser;
        std::string rpcpassword;
        std::string zmqrawtx, zmqrawblock, zmqhashblock, zmqsequence;
        unsigned rpctimeout{30};
        bool operator==(const Bitcoind&) const = default;
    } bitcoind;

    bool operator==(const Config&) const = default;

    //! <datadir>/<chain>/ for every chain but main, as bitcoind does.
    std::filesystem::path NetDir() const;
    //! bitcoind's default RPC port for the chain.
    static uint16_t DefaultBitcoindRpcPort(const std::string& chain);
    //! vaultwatchd's own default control port for the chain.
    static uint16_t DefaultRpcPort(const std::string& chain);
};

//! Returns: the long name of every option (for docs and the example-config test).
std::vector<std::string> OptionNames();

//! Parses flags and the config file. Returns an operator-facing message on any error (unknown
//! option, bad value, unreadable file). Returns nullopt in value for --help/--version (printed).
Expected<std::optional<Config>, std::string> ParseConfig(int argc, const char* const argv[]);

} // namespace vw::daemon
