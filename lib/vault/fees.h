#pragma once
// Fee arithmetic for recoveries (docs/product.md §5, docs/bip345.md §12), pure: feerates, the target
// for a deadline, the escalation schedule, the cap by value at risk, and the choice of a
// pre-signed variant. The daemon feeds it the node's estimate and relay minimum.
//
// The schedule, in one place:
//   conf_target  = clamp((deadline - tip) / 2, 1, 1008): ask estimatesmartfee to confirm well
//                  inside the window (no deadline yet, e.g. a trigger still in the mempool: 6);
//   base rate    = the node's estimate for conf_target, or `fallback` when it has none (a fresh
//                  or regtest node), never below the relay minimum;
//   escalation   = base x (1 + escalate_percent/100)^k after k blocks unconfirmed since the first
//                  broadcast, and at least x2 once the deadline is 2 blocks away or less;
//   cap          = max_fee_percent of the value at risk, and never above the node's maxfeerate
//                  (sendrawtransaction refuses more); a fee above it is not paid (the operator is
//                  alerted instead), but the relay minimum always is.

#include "primitives/amount.h"
#include "primitives/transaction.h"

#include <optional>
#include <span>

namespace vw::vault {

//! A feerate in satoshis per 1000 virtual bytes (bitcoind's unit, without the BTC scaling).
class FeeRate
{
public:
    constexpr FeeRate() = default;
    constexpr explicit FeeRate(int64_t sat_per_kvb) : m_sat_per_kvb(sat_per_kvb) {}
    constexpr int64_t sat_per_kvb() const { return m_sat_per_kvb; }
    //! Returns: the fee for vsize virtual bytes at this rate, rounded up (as bitcoind does).
    constexpr Amount FeeFor(int64_t vsize) const { return Amount{(m_sat_per_kvb * vsize + 999) / 1000}; }
    //! Returns: the rate fee pays for vsize (rounded down), or 0 for vsize <= 0.
    static constexpr FeeRate Of(Amount fee, int64_t vsize) { return FeeRate{vsize > 0 ? fee.sats() * 1000 / vsize : 0}; }
    friend constexpr auto operator<=>(FeeRate, FeeRate) = default;

private:
    int64_t m_sat_per_kvb{0};
};

struct FeePolicy {
    FeeRate fallback{FeeRate{20'000}};    //!< when the node has no estimate (20 sat/vB)
    FeeRate min_relay{FeeRate{1'000}};    //!< the node's minimum (mempoolminfee / minrelaytxfee)
    int escalate_percent{25};             //!< per block unconfirmed
    int max_fee_percent{50};              //!< of the value at risk
    //! sendrawtransaction's maxfeerate (DEFAULT_MAX_RAW_TX_FEE_RATE, 0.10 BTC/kvB): the node
    //! refuses a transaction paying more, so no plan does.
    FeeRate node_max{FeeRate{10'000'000}};
};

//! Returns: the estimatesmartfee target for a recovery due at deadline (nullopt: not known yet).
int ConfTarget(std::optional<int> deadline_height, int tip_height);

//! Returns: the feerate to pay now. estimate: the node's for ConfTarget (nullopt: none);
//! blocks_unconfirmed: blocks connected since the recovery was first broadcast.
FeeRate TargetFeeRate(const FeePolicy& policy, std::optional<FeeRate> estimate, int blocks_unconfirmed,
                      std::optional<int> deadline_height, int tip_height);

//! Returns: the most a recovery of value_at_risk may pay: its share of the value, at most the
//! node's maxfeerate for vsize, never below the relay minimum for vsize.
Amount MaxFee(const FeePolicy& policy, Amount value_at_risk, int64_t vsize);

//! Returns: the fee of tx when every input's value is known (prevout amounts aligned with vin),
//! else nullopt (including negative fees).
std::optional<Amount> FeeOf(const Transaction& tx, std::span<const std::optional<Amount>> input_values);

//! A pre-signed ladder rung: its fee (nullopt when an input's value is unknown) and vsize.
struct Rung {
    std::optional<Amount> fee;
    int64_t vsize{0};
};
//! Returns: the index of the cheapest rung whose feerate meets target; if none does, the rung
//! with the highest known fee (the best the operator pre-signed); nullopt for an empty ladder.
//! Rungs with an unknown fee count as meeting any target (nothing better can be said of them).
std::optional<size_t> ChooseRung(std::span<const Rung> ladder, FeeRate target);

//! Returns: the next rung to climb to from `current`: the cheapest with a higher known fee than
//! current's, or nullopt at the top.
std::optional<size_t> NextRung(std::span<const Rung> ladder, size_t current);

} // namespace vw::vault
