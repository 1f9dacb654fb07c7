#include "vault/fee_wallet.h"

#include "script/sighash.h"
#include "script/taproot.h"
#include "util/bech32.h"

#include <algorithm>

namespace vw::vault {

std::string_view ToString(SelectError e)
{
    switch (e) {
    case SelectError::NoCoins: return "the fee wallet has no confirmed coin";
    case SelectError::InsufficientFunds: return "the fee wallet's confirmed coins do not cover the fee";
    case SelectError::OverCap: return "every fee-wallet coin large enough would pay more than the fee cap";
    }
    return "unknown";
}

Bytes FeeWallet::KeyPathScriptPubKey(const crypto::XOnlyPubKey& internal)
{
    auto out = taproot::OutputKey(internal, std::nullopt);
    if (!out) return {};
    return taproot::P2TRScript(ByteSpan{out->xonly.data(), 32});
}

std::optional<FeeWallet> FeeWallet::FromSecret(ByteSpan secret32)
{
    auto key = crypto::KeyPair::FromSecret(secret32);
    if (!key) return std::nullopt;
    const crypto::XOnlyPubKey internal = key->PubKey();
    const Uint256 tweak = taproot::TweakHash(internal.span(), std::nullopt);
    auto tweaked = key->Tweak(tweak);
    Bytes spk = KeyPathScriptPubKey(internal);
    if (!tweaked || spk.empty()) return std::nullopt; // a tweak out of range: astronomically unlikely
    return FeeWallet{std::move(*key), std::move(*tweaked), internal, std::move(spk)};
}

std::string FeeWallet::Address(std::string_view hrp) const
{
    auto a = bech32::SegwitAddress(hrp, 1, ByteSpan{m_spk}.subspan(2));
    return a ? *a : std::string{};
}

bool FeeWallet::Touches(const Transaction& tx) const
{
    for (const auto& o : tx.vout()) {
        if (o.script_pubkey == m_spk) return true;
    }
    for (const auto& in : tx.vin()) {
        if (m_coins.contains(in.prevout)) return true;
    }
    return false;
}

bool FeeWallet::ApplyTx(const Transaction& tx, std::optional<int> height)
{
    bool touched = false;
    const Txid txid = tx.GetTxid();
    for (const auto& in : tx.vin()) {
        auto it = m_coins.find(in.prevout);
        if (it == m_coins.end()) continue;
        touched = true;
        Unindex(it->second);
        if (height) m_coins.erase(it);
        else it->second.spent_by = txid;
    }
    for (uint32_t n = 0; n < tx.vout().size(); ++n) {
        const auto& o = tx.vout()[n];
        if (o.script_pubkey != m_spk) continue;
        touched = true;
        auto [it, inserted] = m_coins.try_emplace(OutPoint{txid, n}, FeeCoin{OutPoint{txid, n}, o.value, height, std::nullopt});
        if (!inserted && height) { // seen in the mempool, now confirmed
            Unindex(it->second);
            it->second.height = height;
        }
        Reindex(it->second);
    }
    return touched;
}

std::vector<FeeCoin> FeeWallet::Coins() const
{
    std::vector<FeeCoin> out;
    out.reserve(m_coins.size());
    for (const auto& [_, c] : m_coins) out.push_back(c);
    return out;
}

Amount FeeWallet::SpendableBalance() const
{
    Amount a{0};
    for (const auto& [_, c] : m_coins) {
        if (c.spendable()) a += c.amount;
    }
    return a;
}

Amount FeeWallet::PendingBalance() const
{
    Amount a{0};
    for (const auto& [_, c] : m_coins) {
        if (!c.height && !c.spent_by) a += c.amount;
    }
    return a;
}

std::optional<std::vector<Bytes>> FeeWallet::SignKeyPath(const MutableTransaction& tx, std::span<const TxOut> spent, size_t n_in,
                                                         const std::optional<Uint256>& aux) const
{
    if (n_in >= tx.vin.size() || spent.size() != tx.vin.size() || spent[n_in].script_pubkey != m_spk) return std::nullopt;
    auto pre = sighash::Precompute(tx, std::vector<TxOut>(spent.begin(), spent.end()));
    if (!pre) return std::nullopt;
    auto h = sighash::Sighash(tx, *pre, static_cast<uint32_t>(n_in), sighash::SIGHASH_DEFAULT, std::nullopt);
    if (!h) return std::nullopt;
    const auto sig = m_tweaked.Sign(h->span(), aux);
    return std::vector<Bytes>{Bytes(sig.begin(), sig.end())};
}

Expected<FeeCoin, SelectError> SelectExactCoin(std::span<const FeeCoin> coins, Amount need, Amount cap, const std::set<OutPoint>& reserved)
{
    std::optional<FeeCoin> best;
    bool any = false;
    for (const auto& c : coins) {
        if (!c.spendable() || reserved.count(c.outpoint)) continue;
        any = true;
        if (c.amount < need) continue;
        if (!best || c.amount < best->amount || (c.amount == best->amount && c.outpoint < best->outpoint)) best = c;
    }
    if (!any) return Unexpected{SelectError::NoCoins};
    if (!best) return Unexpected{SelectError::InsufficientFunds};
    if (best->amount > cap) return Unexpected{SelectError::OverCap};
    return *best;
}

namespace {
//! The spendable coins not reserved, largest first (ties by outpoint: deterministic).
std::vector<FeeCoin> LargestFirst(std::span<const FeeCoin> coins, const std::set<OutPoint>& reserved)
{
    std::vector<FeeCoin> pool;
    for (const auto& c : coins) {
        if (c.spendable() && !reserved.count(c.outpoint)) pool.push_back(c);
    }
    std::sort(pool.begin(), pool.end(), [](const FeeCoin& a, const FeeCoin& b) {
        return a.amount != b.amount ? a.amount > b.amount : a.outpoint < b.outpoint;
    });
    return pool;
}
} // namespace

Expected<std::vector<FeeCoin>, SelectError> SelectWholeCoins(std::span<const FeeCoin> coins, const std::function<Amount(size_t)>& need_for,
                                                             Amount cap, const std::set<OutPoint>& reserved)
{
    auto one = SelectExactCoin(coins, need_for(1), cap, reserved);
    if (one) return std::vector<FeeCoin>{*one};
    if (one.error() != SelectError::InsufficientFunds) return Unexpected{one.error()};
    std::vector<FeeCoin> out;
    Amount sum{0};
    for (const auto& c : LargestFirst(coins, reserved)) {
        out.push_back(c);
        sum += c.amount;
        if (sum >= need_for(out.size())) {
            if (sum > cap) return Unexpected{SelectError::OverCap};
            return out;
        }
    }
    return Unexpected{SelectError::InsufficientFunds};
}

Expected<std::vector<FeeCoin>, SelectError> SelectCoins(std::span<const FeeCoin> coins, Amount need, FeeRate rate,
                                                        const std::set<OutPoint>& reserved)
{
    const std::vector<FeeCoin> pool = LargestFirst(coins, reserved);
    if (pool.empty()) return Unexpected{SelectError::NoCoins};
    std::vector<FeeCoin> out;
    Amount have{0};
    for (const auto& c : pool) {
        out.push_back(c);
        have += c.amount;
        const Amount want = need + rate.FeeFor(KEY_PATH_INPUT_VSIZE * static_cast<int64_t>(out.size()));
        if (have >= want) return out;
    }
    return Unexpected{SelectError::InsufficientFunds};
}

Reserve NeededReserve(size_t sweepable_vaults, bool authorized, FeeRate rate)
{
    Reserve r;
    r.rate = rate;
    r.recoveries = sweepable_vaults;
    r.fee_per_recovery = rate.FeeFor(UNAUTHORIZED_RECOVERY_VSIZE + KEY_PATH_INPUT_VSIZE);
    const int64_t vsize = (authorized ? AUTHORIZED_RECOVERY_VSIZE : UNAUTHORIZED_RECOVERY_VSIZE) + KEY_PATH_INPUT_VSIZE;
    r.coin = std::max(Amount{rate.FeeFor(vsize).sats() * 2}, SplitUnit(rate));
    r.total = Amount{r.coin.sats() * static_cast<int64_t>(sweepable_vaults)};
    return r;
}

Coverage ComputeCoverage(std::span<const FeeCoin> coins, FeeRate rate, int64_t recovery_vsize)
{
    Coverage c;
    c.rate = rate;
    c.fee_per_recovery = rate.FeeFor(recovery_vsize + KEY_PATH_INPUT_VSIZE);
    for (const auto& coin : coins) {
        if (coin.spendable() && coin.amount >= c.fee_per_recovery) ++c.recoveries;
    }
    return c;
}

Expected<MutableTransaction, SelectError> BuildCpfpChild(const FeeWallet& wallet, const Transaction& parent, Amount parent_fee, FeeRate rate,
                                                         std::span<const FeeCoin> coins, const std::set<OutPoint>& reserved, bool use_anchor)
{
    MutableTransaction child;
    child.version = 2;
    std::vector<TxOut> spent;
    std::vector<bool> anchor; // per input: the parent's anchor (no signature)
    Amount in{0};
    for (uint32_t n = 0; n < parent.vout().size(); ++n) {
        const auto& o = parent.vout()[n];
        if (o.script_pubkey != wallet.ScriptPubKey()) continue;
        child.vin.push_back(TxIn{{parent.GetTxid(), n}, {}, 0xfffffffd, {}});
        spent.push_back(o);
        anchor.push_back(false);
        in += o.value;
    }
    if (child.vin.empty() && use_anchor) {
        for (uint32_t n = 0; n < parent.vout().size(); ++n) {
            const auto& o = parent.vout()[n];
            if (o.value != Amount{0} || o.script_pubkey != Bytes{0x52}) continue; // 0-value OP_2
            child.vin.push_back(TxIn{{parent.GetTxid(), n}, {}, 0xfffffffd, {}});
            spent.push_back(o);
            anchor.push_back(true);
            break;
        }
    }
    // A child must spend the parent to pay for it.
    if (child.vin.empty()) return Unexpected{SelectError::NoCoins};
    child.vout.push_back({Amount{0}, wallet.ScriptPubKey()});
    auto fee_for = [&](const MutableTransaction& c) {
        MutableTransaction sized = c;
        for (size_t k = 0; k < sized.vin.size(); ++k) {
            if (k >= anchor.size() || !anchor[k]) sized.vin[k].witness = {Bytes(64, 0)};
        }
        const auto vsize = static_cast<int64_t>(Transaction{sized}.VSize());
        const Amount package = rate.FeeFor(static_cast<int64_t>(parent.VSize()) + vsize);
        return package > parent_fee ? package - parent_fee : Amount{0};
    };
    Amount fee = fee_for(child);
    if (in < fee + P2TR_DUST) {
        // The parent's outputs do not pay for it: add the smallest coin that does.
        std::optional<FeeCoin> best;
        for (const auto& c : coins) {
            if (!c.spendable() || reserved.count(c.outpoint)) continue;
            MutableTransaction trial = child;
            trial.vin.push_back(TxIn{c.outpoint, {}, 0xfffffffd, {}});
            if (in + c.amount < fee_for(trial) + P2TR_DUST) continue;
            if (!best || c.amount < best->amount || (c.amount == best->amount && c.outpoint < best->outpoint)) best = c;
        }
        if (!best) return Unexpected{SelectError::InsufficientFunds};
        child.vin.push_back(TxIn{best->outpoint, {}, 0xfffffffd, {}});
        spent.push_back({best->amount, wallet.ScriptPubKey()});
        anchor.push_back(false);
        in += best->amount;
        fee = fee_for(child);
    }
    child.vout[0].value = in - fee;
    for (size_t i = 0; i < child.vin.size(); ++i) {
        if (anchor[i]) continue; // anyone can spend it: nothing to sign
        auto w = wallet.SignKeyPath(child, spent, i, std::nullopt);
        if (!w) return Unexpected{SelectError::NoCoins};
        child.vin[i].witness = std::move(*w);
    }
    return child;
}

Amount SplitUnit(FeeRate rate)
{
    const Amount one = rate.FeeFor(UNAUTHORIZED_RECOVERY_VSIZE + KEY_PATH_INPUT_VSIZE);
    return std::max(Amount{one.sats() * 2}, P2TR_DUST);
}

std::optional<MutableTransaction> BuildSplit(const FeeWallet& wallet, std::span<const FeeCoin> coins, const std::set<OutPoint>& reserved,
                                             Amount unit, size_t want, FeeRate rate)
{
    const Amount top{unit.sats() * 4};
    size_t have = 0;
    std::optional<FeeCoin> big;
    for (const auto& c : coins) {
        if (c.spent_by || reserved.count(c.outpoint)) continue;
        if (c.amount >= unit && c.amount <= top) ++have;
        else if (c.amount > top && c.height && (!big || c.amount > big->amount || (c.amount == big->amount && c.outpoint < big->outpoint))) big = c;
    }
    if (have >= want || !big) return std::nullopt;
    // version 4 + marker/flag 0.5 + counts 2 + locktime 4 = 10.5 -> 11 vB, one key-path input.
    auto fee_for = [&](size_t outputs) { return rate.FeeFor(11 + KEY_PATH_INPUT_VSIZE + static_cast<int64_t>(outputs) * P2TR_OUTPUT_VSIZE); };
    size_t k = want - have;
    // The change stays a coin of its own, above the range, when it can.
    while (k > 0 && big->amount < Amount{unit.sats() * static_cast<int64_t>(k)} + fee_for(k + 1) + P2TR_DUST) --k;
    if (k == 0) return std::nullopt;
    MutableTransaction tx;
    tx.version = 2;
    tx.vin.push_back(TxIn{big->outpoint, {}, 0xfffffffd, {}});
    for (size_t i = 0; i < k; ++i) tx.vout.push_back({unit, wallet.ScriptPubKey()});
    tx.vout.push_back({big->amount - Amount{unit.sats() * static_cast<int64_t>(k)} - fee_for(k + 1), wallet.ScriptPubKey()});
    const std::vector<TxOut> spent{{big->amount, wallet.ScriptPubKey()}};
    auto w = wallet.SignKeyPath(tx, spent, 0, std::nullopt);
    if (!w) return std::nullopt;
    tx.vin[0].witness = std::move(*w);
    return tx;
}

} // namespace vw::vault
