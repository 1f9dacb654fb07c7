#include "vault/lifecycle.h"

#include <array>
#include <utility>

namespace vw::vault {
namespace {
constexpr std::array<std::pair<PlanKind, std::string_view>, 5> kKinds{{
    {PlanKind::OpVaultUnauthorized, "opvault_unauthorized"},
    {PlanKind::OpVaultAuthorized, "opvault_authorized"},
    {PlanKind::Presigned, "presigned"},
    {PlanKind::PresignedEmergency, "presigned_emergency"},
    {PlanKind::Ccv, "ccv"},
}};
constexpr std::array<std::pair<RecoveryState, std::string_view>, 6> kStates{{
    {RecoveryState::Planned, "planned"},
    {RecoveryState::Broadcast, "broadcast"},
    {RecoveryState::Confirmed, "confirmed"},
    {RecoveryState::Failed, "failed"},
    {RecoveryState::Conflicted, "conflicted"},
    {RecoveryState::Replaced, "replaced"},
}};

template <typename E, size_t N>
std::string_view Name(const std::array<std::pair<E, std::string_view>, N>& table, E e)
{
    for (const auto& [k, name] : table) {
        if (k == e) return name;
    }
    return "unknown";
}
template <typename E, size_t N>
std::optional<E> Parse(const std::array<std::pair<E, std::string_view>, N>& table, std::string_view s)
{
    for (const auto& [k, name] : table) {
        if (name == s) return k;
    }
    return std::nullopt;
}
} // namespace

std::string_view ToString(PlanKind k) { return Name(kKinds, k); }
std::optional<PlanKind> ParsePlanKind(std::string_view s) { return Parse(kKinds, s); }
std::string_view ToString(RecoveryState s) { return Name(kStates, s); }
std::optional<RecoveryState> ParseRecoveryState(std::string_view s) { return Parse(kStates, s); }

bool CanMove(RecoveryState from, RecoveryState to)
{
    using S = RecoveryState;
    if (from == to) return true;
    switch (from) {
    case S::Planned: return to != S::Planned;
    case S::Broadcast: return to != S::Planned;
    case S::Failed:
    case S::Conflicted:
    case S::Replaced: return to == S::Planned || to == S::Confirmed;
    case S::Confirmed: return to == S::Broadcast;
    }
    return false;
}

} // namespace vw::vault
