#include "vault/fees.h"

#include <algorithm>
#include <cmath>

namespace vw::vault {

namespace {
constexpr int kNoDeadlineTarget = 6;
constexpr int kMaxConfTarget = 1008; // estimatesmartfee's limit
} // namespace

int ConfTarget(std::optional<int> deadline_height, int tip_height)
{
    if (!deadline_height) return kNoDeadlineTarget;
    return std::clamp((*deadline_height - tip_height) / 2, 1, kMaxConfTarget);
}

FeeRate TargetFeeRate(const FeePolicy& policy, std::optional<FeeRate> estimate, int blocks_unconfirmed,
                      std::optional<int> deadline_height, int tip_height)
{
    const FeeRate base = std::max(estimate.value_or(policy.fallback), policy.min_relay);
    double rate = static_cast<double>(base.sat_per_kvb());
    const int k = std::clamp(blocks_unconfirmed, 0, 64);
    rate *= std::pow(1.0 + policy.escalate_percent / 100.0, k);
    if (deadline_height && *deadline_height - tip_height <= 2) rate = std::max(rate, 2.0 * static_cast<double>(base.sat_per_kvb()));
    // 21e6 BTC per vB is beyond any real fee; it keeps the conversion finite.
    rate = std::min(rate, 2.1e18 / 1000.0);
    return std::max(FeeRate{static_cast<int64_t>(std::ceil(rate))}, policy.min_relay);
}

Amount MaxFee(const FeePolicy& policy, Amount value_at_risk, int64_t vsize)
{
    // value <= MAX_MONEY (2.1e15) and percent <= 100: the product fits in 64 bits.
    const int64_t v = std::clamp<int64_t>(value_at_risk.sats(), 0, MAX_MONEY.sats());
    const Amount share{v * std::clamp(policy.max_fee_percent, 0, 100) / 100};
    return std::max(std::min(share, policy.node_max.FeeFor(vsize)), policy.min_relay.FeeFor(vsize));
}

std::optional<Amount> FeeOf(const Transaction& tx, std::span<const std::optional<Amount>> input_values)
{
    if (input_values.size() != tx.vin().size()) return std::nullopt;
    Amount in{0};
    for (const auto& v : input_values) {
        if (!v || !MoneyRange(*v)) return std::nullopt;
        in += *v;
        if (!MoneyRange(in)) return std::nullopt;
    }
    Amount out{0};
    for (const auto& o : tx.vout()) {
        out += o.value;
        if (!MoneyRange(out)) return std::nullopt;
    }
    if (out > in) return std::nullopt;
    return in - out;
}

std::optional<size_t> ChooseRung(std::span<const Rung> ladder, FeeRate target)
{
    if (ladder.empty()) return std::nullopt;
    std::optional<size_t> best_meeting, highest;
    for (size_t i = 0; i < ladder.size(); ++i) {
        const Rung& r = ladder[i];
        const bool meets = !r.fee || FeeRate::Of(*r.fee, r.vsize) >= target;
        if (meets) {
            const bool cheaper = !best_meeting || (r.fee && (!ladder[*best_meeting].fee || *r.fee < *ladder[*best_meeting].fee));
            if (cheaper) best_meeting = i;
        }
        if (r.fee && (!highest || *r.fee > *ladder[*highest].fee)) highest = i;
    }
    if (best_meeting) return best_meeting;
    return highest ? highest : std::optional<size_t>{0};
}

std::optional<size_t> NextRung(std::span<const Rung> ladder, size_t current)
{
    if (current >= ladder.size() || !ladder[current].fee) return std::nullopt;
    const Amount now = *ladder[current].fee;
    std::optional<size_t> next;
    for (size_t i = 0; i < ladder.size(); ++i) {
        const Rung& r = ladder[i];
        if (!r.fee || *r.fee <= now) continue;
        if (!next || *r.fee < *ladder[*next].fee) next = i;
    }
    return next;
}

} // namespace vw::vault
