#pragma once
// The policy stage (docs/product.md §4): pure, table-tested. Given what the matcher saw and what the
// operator configured, decide what to do. Nothing here talks to the node or the store.

#include "primitives/hash_types.h"
#include "util/uint256.h"

#include <optional>
#include <span>
#include <string>
#include <string_view>

namespace vw::vault {

enum class Mode {
    Recover, //!< any unapproved trigger is recovered at once (default)
    Delayed, //!< alert at once; recover after grace_blocks confirmations unless approved
    Alert,   //!< alert only; never recover automatically
};
std::string_view ToString(Mode m);
std::optional<Mode> ParseMode(std::string_view s);

struct Policy {
    Mode mode{Mode::Recover};
    int grace_blocks{0}; //!< Delayed only
};

//! Fewest blocks a Delayed policy must leave between the end of its grace period and the
//! deadline, so a recovery has time to confirm even if a block or two is missed.
inline constexpr int MIN_RECOVERY_WINDOW = 3;

//! Returns: an operator-facing reason why policy is unsafe for a vault whose shortest spend
//! delay is spend_delay, or nullopt if it is acceptable.
std::optional<std::string> CheckPolicy(const Policy& policy, int spend_delay);

//! An operator's approval of one withdrawal: by the trigger's CTV template hash (opvault) or by
//! the trigger's txid (presigned). Expires after expiry_height, if set.
struct Approval {
    enum class Kind { CtvHash, TriggerTxid } kind{Kind::CtvHash};
    Uint256 value; //!< CTV hash (script push order), or txid in serialization order
    std::optional<int> expiry_height;
    bool revoked{false};
};

//! What the matcher knows about one trigger of a vault.
struct TriggerFacts {
    std::optional<Uint256> ctv_hash;   //!< opvault: the withdrawal template the trigger commits to
    Txid txid;
    std::optional<int> confirmed_height; //!< nullopt while in the mempool
    int spend_delay{0};
    //! The tip height when the tower first saw it (its block's height when first seen there).
    //! Fixes the deadline of a trigger still in the mempool (it may confirm at the next block)
    //! and the height at which an approval must have been in force.
    std::optional<int> first_seen_height;
};

//! Returns: the last height at which a recovery can safely confirm: h + spend_delay - 1.
constexpr int DeadlineHeight(int confirmed_height, int spend_delay) { return confirmed_height + spend_delay - 1; }

enum class Action {
    LeaveAlone, //!< approved withdrawal: track it to completion
    Alert,      //!< tell the operator, take no action (alert mode)
    Wait,       //!< delayed mode inside the grace period: alert sent, recover later
    Recover,    //!< broadcast a recovery now
};
std::string_view ToString(Action a);

struct Decision {
    Action action{Action::Recover};
    bool approved{false};
    std::optional<int> deadline_height;   //!< confirmed: h + delay - 1; in the mempool: the earliest (first sight + delay)
    std::optional<int> recover_at_height; //!< Wait: the tip height at which we recover
    std::string reason;
};

//! Returns: whether approval matches this trigger and was in force when the trigger appeared
//! (its first sight, else its confirmation, else tip_height): an approved withdrawal still
//! maturing stays approved after the approval's expiry height.
bool ApprovalApplies(const Approval& a, const TriggerFacts& t, int tip_height);

//! Decides for one trigger at tip_height. Approvals are the vault's.
Decision Decide(const Policy& policy, std::span<const Approval> approvals, const TriggerFacts& trigger, int tip_height);

} // namespace vw::vault
