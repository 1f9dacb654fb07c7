#pragma once
// Is the tower watching? A live event loop is not enough: the follower can be wedged behind a
// node that answers, or the chain itself can stop (a node cut off from the network sees no
// blocks, and a thief's trigger could be mined elsewhere). Pure: the caller samples the
// follower's status on a timer and acts on the verdict (systemd WATCHDOG/STATUS, alerts).

#include "chain_follower.h"

#include <chrono>
#include <optional>
#include <string>

namespace vw::daemon {

struct HealthOptions {
    //! Behind a reachable node's tip without progress for this long: the follower is stuck, the
    //! watchdog stops pinging and systemd restarts the daemon.
    std::chrono::seconds stuck_after{std::chrono::minutes{10}};
    //! No new block at the node for this long: alerted (chain.stalled) and shown in STATUS. 0 =
    //! never (regtest, where blocks come when someone mines them).
    std::chrono::seconds stalled_after{std::chrono::minutes{90}};
};

//! What the health monitor remembers between samples.
struct HealthState {
    int cursor{-1};
    int node_tip{-1};
    std::chrono::steady_clock::time_point cursor_since{};
    std::chrono::steady_clock::time_point tip_since{};
};

struct HealthVerdict {
    bool ping{true};                    //!< send WATCHDOG=1
    std::optional<std::string> status;  //!< STATUS= line to show, when something is wrong
    bool stalled{false};                //!< the node has seen no block for stalled_after
};

//! Updates st with the sample and judges it.
HealthVerdict AssessHealth(const FollowerStatus& s, std::chrono::steady_clock::time_point now, HealthState& st, const HealthOptions& o);

} // namespace vw::daemon
