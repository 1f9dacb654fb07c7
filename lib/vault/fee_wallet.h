#pragma once
// The watchtower's fee wallet (docs/product.md §5), pure: one key, received at its BIP-86-style P2TR
// key-path address (no script tree), its coins tracked from the transactions the engine sees,
// BIP-341 key-path signing (SIGHASH_DEFAULT), coin selection and coverage. Generating and storing
// the key is the daemon's (a 0600 file in the datadir); nothing here logs or returns the secret.

#include "crypto/secp.h"
#include "primitives/transaction.h"
#include "util/expected.h"
#include "vault/fees.h"

#include <map>
#include <functional>
#include <optional>
#include <set>
#include <span>
#include <string>
#include <vector>

namespace vw::vault {

struct FeeCoin {
    OutPoint outpoint;
    Amount amount;
    std::optional<int> height;     //!< confirmation height; nullopt = in the mempool
    std::optional<Txid> spent_by;  //!< a mempool transaction spending it (confirmed spends drop the coin)
    bool spendable() const { return height.has_value() && !spent_by; }
    friend bool operator==(const FeeCoin&, const FeeCoin&) = default;
};

class FeeWallet
{
public:
    //! Returns: the wallet for a 32-byte secret in [1, n-1], else nullopt.
    static std::optional<FeeWallet> FromSecret(ByteSpan secret32);

    //! Returns: the key-path-only P2TR scriptPubKey of internal: OP_1 <x(P + TapTweak(P)*G)>.
    static Bytes KeyPathScriptPubKey(const crypto::XOnlyPubKey& internal);
    //! The wallet's scriptPubKey (KeyPathScriptPubKey of its key).
    const Bytes& ScriptPubKey() const { return m_spk; }
    const crypto::XOnlyPubKey& InternalKey() const { return m_internal; }
    //! Returns: the bech32m address for hrp ("bc", "tb", "bcrt").
    std::string Address(std::string_view hrp) const;

    //! Returns: whether tx pays the wallet or spends one of its coins.
    bool Touches(const Transaction& tx) const;
    //! Tracks tx (height: its block, nullopt = mempool): outputs paying the wallet become coins,
    //! inputs spending a coin mark it spent_by (mempool) or drop it (confirmed). Idempotent.
    //! Returns: whether tx touched the wallet.
    bool ApplyTx(const Transaction& tx, std::optional<int> height);
    void Clear()
    {
        m_coins.clear();
        m_spendable.clear();
    }
    //! Calls f(const FeeCoin&) for each coin, in outpoint order, without copying them (Coins()).
    template <typename F>
    void ForEachCoin(F&& f) const
    {
        for (const auto& [_, c] : m_coins) f(c);
    }

    //! Returns: the spendable coin of the smallest amount at least at_least (ties: the lowest
    //! outpoint) that skip(outpoint) does not refuse: SelectExactCoin's pick among the coins skip
    //! lets through, found in O(log n) plus the coins skipped, not by a pass over every coin (a
    //! wallet funded for 10,000 vaults holds 10,000, walked at every trigger's answer).
    template <typename Skip>
    std::optional<FeeCoin> SmallestSpendableAtLeast(Amount at_least, Skip&& skip) const
    {
        for (auto it = m_spendable.lower_bound({at_least, OutPoint{}}); it != m_spendable.end(); ++it) {
            if (!skip(it->second)) return m_coins.at(it->second);
        }
        return std::nullopt;
    }
    //! Every coin, by outpoint.
    std::vector<FeeCoin> Coins() const;
    //! Confirmed coins not spent in the mempool.
    Amount SpendableBalance() const;
    //! Coins still in the mempool (received, not confirmed).
    Amount PendingBalance() const;

    //! Returns: the key-path witness [sig64] for input n_in of tx (SIGHASH_DEFAULT), spent aligned
    //! with vin; nullopt if n_in does not spend the wallet's scriptPubKey or the data is
    //! inconsistent. aux: BIP-340 aux randomness (nullopt = zeros; pass fresh bytes in production).
    std::optional<std::vector<Bytes>> SignKeyPath(const MutableTransaction& tx, std::span<const TxOut> spent, size_t n_in,
                                                  const std::optional<Uint256>& aux) const;

private:
    FeeWallet(crypto::KeyPair key, crypto::KeyPair tweaked, crypto::XOnlyPubKey internal, Bytes spk)
        : m_key(std::move(key)), m_tweaked(std::move(tweaked)), m_internal(internal), m_spk(std::move(spk))
    {
    }
    crypto::KeyPair m_key;
    crypto::KeyPair m_tweaked; //!< the key path's signing key
    crypto::XOnlyPubKey m_internal;
    Bytes m_spk;
    //! Takes c out of m_spendable (before a change), or puts it back if it is spendable (after).
    void Unindex(const FeeCoin& c) { m_spendable.erase({c.amount, c.outpoint}); }
    void Reindex(const FeeCoin& c)
    {
        if (c.spendable()) m_spendable.emplace(c.amount, c.outpoint);
    }
    std::map<OutPoint, FeeCoin> m_coins;
    std::set<std::pair<Amount, OutPoint>> m_spendable; //!< the spendable coins, by amount
};

//! Virtual size of one P2TR key-path input (outpoint 36 + sequence 4 + empty scriptSig 1 = 41
//! bytes, witness 1 + 1 + 64 = 66 weight units): 57.5 vB, rounded up.
inline constexpr int64_t KEY_PATH_INPUT_VSIZE = 58;
//! Virtual size of an unauthorized OP_VAULT recovery of one vault UTXO with its OP_2 anchor, no
//! fee input (docs/bip345.md §13: 521 WU): the yardstick of the fee wallet's coverage.
inline constexpr int64_t UNAUTHORIZED_RECOVERY_VSIZE = 131;
//! Virtual size of an authorized OP_VAULT recovery of one vault UTXO with a change output and no
//! anchor, no fee input: the recover witness carries a 64-byte signature (16 vB) and the change
//! output (43 vB) replaces the anchor (11 vB).
inline constexpr int64_t AUTHORIZED_RECOVERY_VSIZE = 188;
//! Virtual size of one P2TR output (8 + 1 + 34).
inline constexpr int64_t P2TR_OUTPUT_VSIZE = 43;

enum class SelectError {
    NoCoins,           //!< no spendable coin at all
    InsufficientFunds, //!< the spendable coins do not cover what is needed
    OverCap,           //!< (exact) every coin large enough would overpay beyond the cap
};
std::string_view ToString(SelectError e);

//! For a fee input with no change (unauthorized recoveries): the smallest spendable coin that is
//! not reserved with amount >= need; if it exceeds cap, OverCap (split the coins first).
Expected<FeeCoin, SelectError> SelectExactCoin(std::span<const FeeCoin> coins, Amount need, Amount cap,
                                               const std::set<OutPoint>& reserved);

//! For fee inputs spent whole (unauthorized recoveries take no change): the one smallest coin
//! covering need_for(1), else the largest coins, fewest first, whose sum covers need_for(n) for
//! n coins (each input makes the transaction larger); ties by outpoint. Deterministic. A group
//! sweep larger than one coin's worth is still paid from a wallet of equal coins.
Expected<std::vector<FeeCoin>, SelectError> SelectWholeCoins(std::span<const FeeCoin> coins, const std::function<Amount(size_t)>& need_for,
                                                             Amount cap, const std::set<OutPoint>& reserved);

//! For fee inputs with change (authorized recoveries): the fewest coins, largest first, covering
//! need plus the cost of their own inputs at rate; ties by outpoint. Deterministic.
Expected<std::vector<FeeCoin>, SelectError> SelectCoins(std::span<const FeeCoin> coins, Amount need, FeeRate rate,
                                                        const std::set<OutPoint>& reserved);

//! A child paying for its parent (CPFP): spends every output of parent that pays the wallet,
//! plus one confirmed coin when those do not cover the fee, and sends the rest back to the
//! wallet. The fee makes the package (parent + child) pay rate: rate x (parent vsize + child
//! vsize) - parent_fee. Signed (key path, aux zeros: the same inputs give the same child).
//! Returns: the child, or NoCoins (the parent pays the wallet nothing: a child could not spend
//! it), InsufficientFunds (no coin makes the change reach dust).
//! use_anchor: also spend the parent's 0-value bare OP_2 anchor (the unauthorized OP_VAULT
//! recovery's: anyone can spend it with an empty witness), so a parent that pays the wallet
//! nothing can still be paid for. Such a child is standard only on a node that accepts the
//! anchor's spend (-acceptnonstdtxn on the BIP-345 prototype); the caller tries it and learns.
Expected<MutableTransaction, SelectError> BuildCpfpChild(const FeeWallet& wallet, const Transaction& parent, Amount parent_fee, FeeRate rate,
                                                         std::span<const FeeCoin> coins, const std::set<OutPoint>& reserved,
                                                         bool use_anchor = false);

//! P2TR outputs below this are dust at bitcoind's default dust relay fee (3 sat/vB).
inline constexpr Amount P2TR_DUST{330};

//! The size of a ready fee coin at rate: what a one-UTXO unauthorized recovery with its fee
//! input pays, twice over (room for two escalation steps), never dust.
Amount SplitUnit(FeeRate rate);

//! Splitting ahead of need. An unauthorized recovery spends one fee coin whole (policy allows it
//! no change), so a wallet holding one large coin would burn it all on the first recovery. The
//! wallet keeps `want` coins of about `unit` each: when fewer than that are free (not spent, not
//! reserved, confirmed or not) in [unit, 4 x unit], the largest free confirmed coin above that
//! range is split into the missing unit-sized outputs (as many as it pays for) and its change,
//! back to the wallet, paying rate. Signed (key path, aux zeros: the same coins give the same tx).
//! Returns: the split, or nullopt when nothing is missing or no coin is large enough.
std::optional<MutableTransaction> BuildSplit(const FeeWallet& wallet, std::span<const FeeCoin> coins, const std::set<OutPoint>& reserved,
                                             Amount unit, size_t want, FeeRate rate);

//! How many recoveries the spendable coins pay for at rate, one coin each (no change): a
//! recovery of recovery_vsize plus its fee input.
struct Coverage {
    FeeRate rate;
    Amount fee_per_recovery;
    size_t recoveries{0};
};
Coverage ComputeCoverage(std::span<const FeeCoin> coins, FeeRate rate, int64_t recovery_vsize);

//! What answering every sweepable vault at once asks of the fee wallet at rate. Each trigger
//! first seen in the mempool is swept alone (only its own outputs and confirmed ones), with a coin
//! of its own: one recovery per vault, each a coin paying it twice over (a recovery near its
//! deadline pays twice the rate). A block full of triggers (Harding's attack) is answered in
//! group sweeps, several coins each when one does not cover it, and needs no more; this is the
//! worst case. authorized: some of the vaults recover through an authorized leaf (bigger).
struct Reserve {
    FeeRate rate;
    size_t recoveries{0};      //!< coins of at least fee_per_recovery needed
    Amount fee_per_recovery;   //!< the smallest coin that pays one (ComputeCoverage's yardstick)
    Amount coin;               //!< the size each reserve coin should have
    Amount total;              //!< recoveries x coin
};
Reserve NeededReserve(size_t sweepable_vaults, bool authorized, FeeRate rate);

} // namespace vw::vault
