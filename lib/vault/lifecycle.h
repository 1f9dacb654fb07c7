#pragma once
// The lifecycle of a recovery the tower decided to send, as the engine keeps it and the store
// persists it: its kind, its states and the moves allowed between them. Text only at the edges
// (the store's columns, the RPC answers, the events), with one spelling each.

#include <cstdint>
#include <optional>
#include <string_view>

namespace vw::vault {

enum class PlanKind : uint8_t {
    OpVaultUnauthorized, //!< BuildUnauthorizedRecovery of a whole recovery group
    OpVaultAuthorized,   //!< BuildAuthorizedRecovery signed with the vault's recovery_auth
    Presigned,           //!< a pre-signed recovery variant, unchanged
    PresignedEmergency,  //!< a pre-signed emergency tx sweeping watched outpoints (recovervault)
    Ccv,                 //!< ccv::BuildRecover: keyless recover clauses, fee inputs and change
};
//! "opvault_unauthorized" | "opvault_authorized" | "presigned" | "presigned_emergency" | "ccv": the
//! spelling of the store, the RPC answers and the events.
std::string_view ToString(PlanKind k);
std::optional<PlanKind> ParsePlanKind(std::string_view s);

//! A recovery is live (planned, broadcast) while it may still confirm as it is; dead (failed: the
//! node refused it for a reason that stays; conflicted: another confirmed transaction spent one of
//! its inputs; replaced: a fee bump of ours took its place) otherwise, or confirmed.
enum class RecoveryState : uint8_t { Planned, Broadcast, Confirmed, Failed, Conflicted, Replaced };
std::string_view ToString(RecoveryState s);
std::optional<RecoveryState> ParseRecoveryState(std::string_view s);

constexpr bool IsLive(RecoveryState s) { return s == RecoveryState::Planned || s == RecoveryState::Broadcast; }
constexpr bool IsDead(RecoveryState s) { return s == RecoveryState::Failed || s == RecoveryState::Conflicted || s == RecoveryState::Replaced; }

//! The moves the engine may make (staying put is always allowed):
//!   planned   -> broadcast (the node took it) | failed | conflicted | replaced | confirmed
//!   broadcast -> failed | conflicted | replaced | confirmed
//!   failed, conflicted, replaced -> planned (the same transaction planned again) | confirmed
//!              (an old version mined after all)
//!   confirmed -> broadcast (a reorg took its block: it goes out again)
//! Nothing leaves confirmed for a dead state, and nothing dead is sent without being planned
//! again (which frees and takes fee coins in one place).
bool CanMove(RecoveryState from, RecoveryState to);

} // namespace vw::vault
