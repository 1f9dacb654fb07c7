#include "vault/policy.h"

#include <algorithm>

namespace vw::vault {

std::string_view ToString(Mode m)
{
    switch (m) {
    case Mode::Recover: return "recover";
    case Mode::Delayed: return "delayed";
    case Mode::Alert: return "alert";
    }
    return "?";
}

std::optional<Mode> ParseMode(std::string_view s)
{
    if (s == "recover") return Mode::Recover;
    if (s == "delayed") return Mode::Delayed;
    if (s == "alert") return Mode::Alert;
    return std::nullopt;
}

std::string_view ToString(Action a)
{
    switch (a) {
    case Action::LeaveAlone: return "leave_alone";
    case Action::Alert: return "alert";
    case Action::Wait: return "wait";
    case Action::Recover: return "recover";
    }
    return "?";
}

std::optional<std::string> CheckPolicy(const Policy& p, int spend_delay)
{
    if (p.mode != Mode::Delayed) {
        if (p.grace_blocks != 0) return "grace_blocks is only meaningful with mode \"delayed\"";
        return std::nullopt;
    }
    if (p.grace_blocks < 1) return "mode \"delayed\" needs grace_blocks >= 1";
    // The trigger confirms at h; we recover at the tip h + grace - 1 and must confirm by
    // h + spend_delay - 1: leave MIN_RECOVERY_WINDOW blocks for that.
    const int window = spend_delay - p.grace_blocks;
    if (window < MIN_RECOVERY_WINDOW) {
        return "grace_blocks=" + std::to_string(p.grace_blocks) + " leaves " + std::to_string(window) +
               " block(s) before the deadline of a vault with spend_delay=" + std::to_string(spend_delay) +
               "; at least " + std::to_string(MIN_RECOVERY_WINDOW) + " are needed for the recovery to confirm (use grace_blocks <= " +
               std::to_string(spend_delay - MIN_RECOVERY_WINDOW) + ")";
    }
    return std::nullopt;
}

bool ApprovalApplies(const Approval& a, const TriggerFacts& t, int tip_height)
{
    if (a.revoked) return false;
    int at = tip_height;
    if (t.confirmed_height) at = std::min(at, *t.confirmed_height);
    if (t.first_seen_height) at = std::min(at, *t.first_seen_height);
    if (a.expiry_height && at > *a.expiry_height) return false;
    switch (a.kind) {
    case Approval::Kind::CtvHash: return t.ctv_hash && *t.ctv_hash == a.value;
    case Approval::Kind::TriggerTxid: return t.txid.ToUint256() == a.value;
    }
    return false;
}

Decision Decide(const Policy& policy, std::span<const Approval> approvals, const TriggerFacts& trigger, int tip_height)
{
    Decision d;
    if (trigger.confirmed_height) {
        d.deadline_height = DeadlineHeight(*trigger.confirmed_height, trigger.spend_delay);
    } else if (trigger.first_seen_height) {
        d.deadline_height = DeadlineHeight(*trigger.first_seen_height + 1, trigger.spend_delay); // the earliest it can be
    }
    for (const auto& a : approvals) {
        if (ApprovalApplies(a, trigger, tip_height)) {
            d.action = Action::LeaveAlone;
            d.approved = true;
            d.reason = "withdrawal matches an approval";
            return d;
        }
    }
    switch (policy.mode) {
    case Mode::Recover:
        d.action = Action::Recover;
        d.reason = "trigger not approved";
        return d;
    case Mode::Alert:
        d.action = Action::Alert;
        d.reason = "trigger not approved; policy is alert-only";
        return d;
    case Mode::Delayed: {
        if (!trigger.confirmed_height) {
            d.action = Action::Wait;
            d.reason = "trigger not approved; waiting for confirmations (delayed policy)";
            return d;
        }
        // N confirmations are reached at tip = h + N - 1.
        const int at = *trigger.confirmed_height + policy.grace_blocks - 1;
        d.recover_at_height = at;
        if (tip_height >= at) {
            d.action = Action::Recover;
            d.reason = "trigger not approved within " + std::to_string(policy.grace_blocks) + " confirmation(s)";
        } else {
            d.action = Action::Wait;
            d.reason = "trigger not approved yet; recovering at height " + std::to_string(at) + " unless approved";
        }
        return d;
    }
    }
    return d;
}

} // namespace vw::vault
