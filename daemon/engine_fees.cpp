// Fees: the fee wallet's coins, which live sweep holds which coin, fee inputs and CPFP children
// for the sweeps, RBF bumps each block, and the reserve the wallet must keep.
#include "engine.h"
#include "engine_internal.h"

namespace vw::daemon {

void Engine::SetFeeWallet(vault::FeeWallet wallet) { m_fee_wallet = std::move(wallet); }

vault::FeeRate Engine::CurrentFeeRate() const { return vault::TargetFeeRate(m_opts.fees, m_fee_estimate, 0, std::nullopt, m_tip); }

void Engine::CheckFeeReserve(store::StateChanges& changes)
{
    // Low: below feewalletreserve, or unable to pay one recovery per sweepable vault at the rate a
    // recovery pays now (the reserve getfeewallet reports).
    if (!m_fee_wallet) return;
    const Amount balance = m_fee_wallet->SpendableBalance();
    const vault::FeeRate rate = CurrentFeeRate();
    const auto need = NeededReserve(rate);
    const auto cov = vault::ComputeCoverage(m_fee_wallet->Coins(), rate, vault::UNAUTHORIZED_RECOVERY_VSIZE);
    const bool below_config = m_opts.fee_reserve > Amount{0} && balance < m_opts.fee_reserve;
    const bool below_need = cov.recoveries < need.recoveries;
    if (!below_config && !below_need) {
        m_fee_low_reported = false;
        return;
    }
    if (m_fee_low_reported) return;
    m_fee_low_reported = true;
    Event(changes, "feewallet.low", "", "", std::nullopt,
          {{"balance", balance.sats()},
           {"reserve", m_opts.fee_reserve.sats()},
           {"reserve_needed", need.total.sats()},
           {"recoveries_needed", need.recoveries},
           {"address", m_fee_wallet->Address(Hrp(m_opts.chain))},
           {"recoveries_covered", cov.recoveries}});
}

void Engine::BumpFees(store::StateChanges& changes)
{
    // Every recovery a new block went by without is replaced by one paying more: a pre-signed one
    // by the next variant up its ladder, an OP_VAULT one by the same sweep paid by a bigger
    // fee-wallet coin (RBF). Only a block found after the node had it could have confirmed it:
    // not the old blocks of a catch-up, not the block whose trigger it answers.
    std::vector<Txid> due;
    for (const auto& [txid, r] : m_recoveries) {
        if (!IsLive(r) || r.state == vault::RecoveryState::Planned || r.vault_ids.empty()) continue;
        if (r.kind == vault::PlanKind::Presigned && r.trigger_txid.IsNull()) continue; // an emergency tx (stored before its kind had a name): no ladder
        if (r.kind == vault::PlanKind::PresignedEmergency) continue;                    // pre-signed: nothing to bump
        auto sent = m_sent_at.find(txid);
        if (sent == m_sent_at.end() || m_tip <= sent->second) continue;
        due.push_back(txid);
    }
    for (const auto& txid : due) {
        const auto& row = m_recoveries.at(txid);
        std::optional<MutableTransaction> next;
        json::object detail{{"replaces", txid.ToString()}, {"trigger_txid", TriggerTxidJson(row.trigger_txid)}};
        if (row.kind == vault::PlanKind::Presigned) {
            auto vid = vault::VaultId::Parse(row.vault_ids.front());
            auto idx = vid ? m_registry.Find(*vid) : std::nullopt;
            auto variant = idx ? vault::NextPresignedVariant(m_registry, *idx, row.trigger_txid, txid) : std::nullopt;
            if (!variant) continue; // the top of the ladder: keep rebroadcasting it
            detail["variant"] = variant->variant ? json::value(*variant->variant) : json::value(nullptr);
            next = std::move(variant->tx);
        } else {
            next = PlanRbf(row);
        }
        if (!next) continue;
        const Transaction tx{*next};
        if (m_recoveries.contains(tx.GetTxid())) continue;
        store::RecoveryRow bumped = row;
        bumped.txid = tx.GetTxid();
        bumped.tx = SerializeTransaction(tx);
        bumped.state = vault::RecoveryState::Planned; // a new row
        bumped.attempts = 0;
        bumped.last_error.clear();
        bumped.confirmed_height.reset();
        bumped.created_at = Now();
        {
            auto old = m_recoveries.Change(txid);
            MoveTo(*old, vault::RecoveryState::Replaced);
        }
        changes.recoveries.push_back(row);
        changes.recoveries.push_back(bumped);
        ++m_stats.fee_bumps;
        for (const auto& id : row.vault_ids) Event(changes, "recovery.fee_bumped", id, bumped.txid.ToString(), std::nullopt, detail);
        log::Main()->warn("recovery {} unconfirmed after a block: replaced by {} paying more ({})", txid.ToString(), bumped.txid.ToString(),
                          row.kind == vault::PlanKind::Presigned ? "the next pre-signed variant" : "a bigger fee coin");
        m_recoveries.Insert(std::move(bumped));
    }
}

std::optional<MutableTransaction> Engine::PlanRbf(const store::RecoveryRow& row) const
{
    if (!m_fee_wallet) return std::nullopt;
    auto tx = DecodeTransaction(row.tx);
    if (!tx) return std::nullopt;
    std::vector<uint32_t> vaults;
    for (const auto& id : row.vault_ids) {
        if (auto vid = vault::VaultId::Parse(id)) {
            if (auto i = m_registry.Find(*vid)) vaults.push_back(*i);
        }
    }
    auto plan = vault::PlanOfRecoveryTx(m_registry, *tx, vaults);
    if (!plan) {
        log::Main()->warn("recovery {}: cannot be bumped: {}", row.txid.ToString(), vault::ToString(plan.error().error));
        return std::nullopt;
    }
    // What it pays now: the swept value and its fee coins in, the outputs out.
    const auto coins = m_fee_wallet->Coins();
    Amount in{0}, at_risk{0}, out{0};
    std::set<OutPoint> own;
    for (const auto& i : plan->inputs) at_risk += i.prevout.value;
    in = at_risk;
    for (const auto& txin : tx->vin()) {
        if (std::any_of(plan->inputs.begin(), plan->inputs.end(), [&](const auto& r) { return r.outpoint == txin.prevout; })) continue;
        auto c = std::find_if(coins.begin(), coins.end(), [&](const auto& k) { return k.outpoint == txin.prevout; });
        if (c == coins.end()) return std::nullopt; // a fee input we cannot value
        in += c->amount;
        own.insert(c->outpoint);
    }
    for (const auto& o : tx->vout()) out += o.value;
    const Amount old_fee = in - out;
    const int64_t vsize = static_cast<int64_t>(tx->VSize());
    const auto sent = m_sent_at.find(row.txid);
    const int waited = sent == m_sent_at.end() ? 1 : std::max(1, m_tip - sent->second);
    const vault::FeeRate rate = vault::TargetFeeRate(m_opts.fees, m_fee_estimate, waited, row.deadline_height, m_tip);
    // BIP-125: more than the replaced fee by at least the relay fee of the replacement; and the
    // escalation schedule's step over what it paid.
    Amount need = std::max({rate.FeeFor(vsize), old_fee + m_opts.fees.min_relay.FeeFor(vsize),
                            Amount{old_fee.sats() * (100 + m_opts.fees.escalate_percent) / 100}});
    const bool authorized = plan->kind == vault::PlanKind::OpVaultAuthorized;
    const bool takes_change = authorized || plan->kind == vault::PlanKind::Ccv;
    const Amount cap = authorized ? MAX_MONEY : vault::MaxFee(m_opts.fees, at_risk, vsize);
    if (need > cap) need = cap;
    if (need <= old_fee) return std::nullopt; // at the cap already: keep rebroadcasting it
    // A sweep with change keeps its coin when it covers more (less change); an unauthorized
    // OP_VAULT one spends a coin whole, so only a bigger one pays more.
    Expected<vault::FeeCoin, vault::SelectError> coin = Unexpected{vault::SelectError::NoCoins};
    if (takes_change && own.size() == 1) {
        auto c = std::find_if(coins.begin(), coins.end(), [&](const auto& k) { return k.outpoint == *own.begin(); });
        if (c->amount >= need) coin = *c;
    }
    if (!coin) coin = vault::SelectExactCoin(coins, need, cap, ReservedFeeCoins());
    if (!coin) {
        log::Main()->warn("recovery {} cannot be bumped to {} sat: {} (fund the fee wallet: getfeewallet)", row.txid.ToString(), need.sats(),
                          vault::ToString(coin.error()));
        return std::nullopt;
    }
    const Bytes& spk = m_fee_wallet->ScriptPubKey();
    std::optional<TxOut> change;
    if (takes_change && coin->amount - need >= Amount{330}) change = TxOut{coin->amount - need, spk};
    const vault::FeeSigner signer = [w = &*m_fee_wallet](const MutableTransaction& t, std::span<const TxOut> spent, size_t n) {
        return w->SignKeyPath(t, spent, n, std::nullopt);
    };
    auto funded = vault::WithFeeInput(m_registry, *plan, vault::FeeInput{coin->outpoint, TxOut{coin->amount, spk}, {}}, change, signer);
    if (!funded) return std::nullopt;
    return std::move(funded->tx);
}

net::awaitable<void> Engine::RefreshFees()
{
    auto est = co_await m_node.EstimateSmartFee(vault::ConfTarget(std::nullopt, m_tip));
    if (est) m_fee_estimate = *est.value;
    auto mp = co_await m_node.GetMempoolInfo();
    if (mp && mp.value->floor) m_opts.fees.min_relay = *mp.value->floor;
    // Fee coins ready ahead of need, at the rate just refreshed.
    if (m_fee_wallet && m_opts.fee_coins > 0 && !m_stopping) {
        const vault::FeeRate rate = CurrentFeeRate();
        auto split = vault::BuildSplit(*m_fee_wallet, m_fee_wallet->Coins(), ReservedFeeCoins(), vault::SplitUnit(rate), m_opts.fee_coins, rate);
        if (split) {
            const Transaction tx{*split};
            auto r = co_await m_node.SendRawTransaction(tx);
            if (chain::IsAccepted(r.outcome)) {
                m_fee_wallet->ApplyTx(tx, std::nullopt);
                log::Main()->info("fee wallet: split {}:{} into {} coins of {} sat for recoveries (tx {})", tx.vin()[0].prevout.txid.ToString(), tx.vin()[0].prevout.n,
                                  tx.vout().size() - 1, tx.vout()[0].value.sats(), tx.GetTxid().ToString());
            } else {
                log::Main()->warn("fee wallet: the split {} was refused: {}", tx.GetTxid().ToString(), r.Message());
            }
        }
    }
}

Expected<json::value, EngineError> Engine::GetFeeWallet(std::optional<int64_t> feerate_sat_per_kvb) const
{
    if (!m_fee_wallet) return Unexpected{EngineError{rpc::RPC_MISC_ERROR, "no fee wallet in this process"}};
    const auto holders = FeeCoinHolders();
    json::array utxos;
    for (const auto& c : m_fee_wallet->Coins()) {
        auto h = holders.find(c.outpoint);
        utxos.push_back(json::object{{"txid", c.outpoint.txid.ToString()},
                                     {"vout", c.outpoint.n},
                                     {"amount", c.amount.sats()},
                                     {"height", c.height ? json::value(*c.height) : json::value(nullptr)},
                                     {"spent_by", c.spent_by ? json::value(c.spent_by->ToString()) : json::value(nullptr)},
                                     {"held_by", h != holders.end() ? json::value(h->second.ToString()) : json::value(nullptr)}});
    }
    const vault::FeeRate rate = CurrentFeeRate();
    const auto cov = vault::ComputeCoverage(m_fee_wallet->Coins(), rate, vault::UNAUTHORIZED_RECOVERY_VSIZE);
    const Amount balance = m_fee_wallet->SpendableBalance();
    const auto need = NeededReserve(feerate_sat_per_kvb ? vault::FeeRate{*feerate_sat_per_kvb} : rate);
    const auto need_cov = vault::ComputeCoverage(m_fee_wallet->Coins(), need.rate, vault::UNAUTHORIZED_RECOVERY_VSIZE);
    const bool low = (m_opts.fee_reserve > Amount{0} && balance < m_opts.fee_reserve) || need_cov.recoveries < need.recoveries;
    return json::value(json::object{
        {"address", m_fee_wallet->Address(Hrp(m_opts.chain))},
        {"script_pubkey", HexStr(m_fee_wallet->ScriptPubKey())},
        {"balance", balance.sats()},
        {"pending_balance", m_fee_wallet->PendingBalance().sats()},
        {"reserve", m_opts.fee_reserve.sats()},
        {"reserve_needed", json::object{{"feerate_sat_per_kvb", need.rate.sat_per_kvb()},
                                        {"recoveries", need.recoveries},
                                        {"fee_per_recovery", need.fee_per_recovery.sats()},
                                        {"coin", need.coin.sats()},
                                        {"amount", need.total.sats()}}},
        {"low", low},
        {"utxos", std::move(utxos)},
        {"coverage", json::object{{"feerate_sat_per_kvb", rate.sat_per_kvb()},
                                  {"feerate_source", m_fee_estimate ? "estimatesmartfee" : "fallbackfeerate"},
                                  {"fee_per_recovery", cov.fee_per_recovery.sats()},
                                  {"recoveries", cov.recoveries}}}});
}

vault::Reserve Engine::NeededReserve(vault::FeeRate rate) const
{
    // Vaults whose trigger the tower answers with a sweep paid by the fee wallet: OP_VAULT ones it
    // can sign for (pre-signed recoveries carry their own fees).
    // Counted by the registry as its records change (each block asks: a walk of 10,000,000
    // records would stall the io thread). A ccv recover carries change as an authorized sweep
    // does: about the same size.
    const auto& t = m_registry.tally();
    const size_t n = t.sweepable;
    const bool authorized = t.sweepable_batched > 0;
    return vault::NeededReserve(n, authorized, rate);
}

std::map<OutPoint, Txid> Engine::FeeCoinHolders() const
{
    std::map<OutPoint, Txid> out;
    if (!m_fee_wallet) return out;
    for (const auto& c : m_fee_wallet->Coins()) {
        // A dead recovery's coins are free again: the index holds the live ones only.
        const auto by = m_recoveries.LiveSpenders(c.outpoint);
        if (!by.empty()) out.emplace(c.outpoint, *std::min_element(by.begin(), by.end()));
    }
    return out;
}

std::set<OutPoint> Engine::ReservedFeeCoins() const
{
    std::set<OutPoint> out;
    if (!m_fee_wallet) return out;
    for (const auto& c : m_fee_wallet->Coins()) {
        if (m_recoveries.LiveSpends(c.outpoint)) out.insert(c.outpoint);
    }
    return out;
}

void Engine::AttachFees(std::vector<vault::PlannedRecovery>& plans, std::optional<int> deadline, std::set<OutPoint>* pass_picks)
{
    // OP_VAULT and ccv recoveries preserve the vault's value, so their fee comes from a fee-wallet
    // input: unauthorized OP_VAULT ones spend one coin entirely (no change allowed), authorized and
    // ccv ones may take change. Signatures use zero aux randomness (BIP-340 nonces stay secret-derived), so the
    // same plan gives the same txid after a restart. With no coin to use the plan stays
    // zero-fee (relayed only by a node with -minrelaytxfee=0) and the operator is told.
    if (!m_fee_wallet) return;
    const vault::FeeRate rate = vault::TargetFeeRate(m_opts.fees, m_fee_estimate, 0, deadline, m_tip);
    // The coins no live recovery holds (the recovery book's index) and none picked earlier in
    // this pass. One coin that pays alone is found in the wallet's index by amount; the pass over
    // every coin (a copy, then the selection's scan) is made only when none does.
    std::set<OutPoint> local;
    std::set<OutPoint>& picked_before = pass_picks ? *pass_picks : local;
    auto held = [&](const OutPoint& o) { return m_recoveries.LiveSpends(o) || picked_before.contains(o); };
    const std::set<OutPoint> reserved_none;
    const Bytes& spk = m_fee_wallet->ScriptPubKey();
    const vault::FeeSigner signer = [w = &*m_fee_wallet](const MutableTransaction& tx, std::span<const TxOut> spent, size_t n) {
        return w->SignKeyPath(tx, spent, n, std::nullopt);
    };
    for (auto& p : plans) {
        if (p.kind != vault::PlanKind::OpVaultUnauthorized && p.kind != vault::PlanKind::OpVaultAuthorized && p.kind != vault::PlanKind::Ccv) continue;
        const bool authorized = p.kind == vault::PlanKind::OpVaultAuthorized;
        // ccv: the recovered amount cannot pay (CCV keeps it whole), so change comes back too.
        const bool takes_change = authorized || p.kind == vault::PlanKind::Ccv;
        // Size it with a placeholder fee input (a 64-byte key-path signature) and change.
        const vault::FeeInput probe{OutPoint{}, TxOut{Amount{0}, spk}, {Bytes(64, 0)}};
        std::optional<TxOut> probe_change;
        if (takes_change) probe_change = TxOut{Amount{0}, spk};
        auto sized = vault::WithFeeInput(m_registry, p, probe, probe_change, nullptr);
        if (!sized) continue;
        const int64_t vsize = static_cast<int64_t>(Transaction{sized->tx}.VSize());
        Amount at_risk{0};
        for (const auto& in : p.inputs) at_risk += in.prevout.value;
        // Each coin beyond the first adds a key-path input.
        auto need_for = [&](size_t n) { return rate.FeeFor(vsize + static_cast<int64_t>(n - 1) * vault::KEY_PATH_INPUT_VSIZE); };
        const Amount need = need_for(1);
        const Amount cap = authorized ? MAX_MONEY : vault::MaxFee(m_opts.fees, at_risk, vsize);
        Expected<std::vector<vault::FeeCoin>, vault::SelectError> picked = Unexpected{vault::SelectError::NoCoins};
        if (auto one = m_fee_wallet->SmallestSpendableAtLeast(need, held)) {
            // SelectWholeCoins' first choice, without the pass.
            if (one->amount > cap) picked = Unexpected{vault::SelectError::OverCap};
            else picked = std::vector<vault::FeeCoin>{*one};
        } else {
            std::vector<vault::FeeCoin> coins;
            m_fee_wallet->ForEachCoin([&](const vault::FeeCoin& c) {
                if (c.spendable() && !held(c.outpoint)) coins.push_back(c);
            });
            picked = vault::SelectWholeCoins(coins, need_for, cap, reserved_none);
        }
        if (!picked) {
            log::Main()->warn("recovery of {} input(s) goes without a fee input: {} (needs {} sat at {} sat/kvB; fund the fee wallet: getfeewallet)",
                              p.inputs.size(), vault::ToString(picked.error()), need.sats(), rate.sat_per_kvb());
            continue;
        }
        Amount total{0};
        std::vector<vault::FeeInput> fees;
        for (const auto& c : *picked) {
            total += c.amount;
            fees.push_back(vault::FeeInput{c.outpoint, TxOut{c.amount, spk}, {}});
        }
        const Amount paid = need_for(picked->size());
        std::optional<TxOut> change;
        // Change only when it is worth an output (P2TR dust is 330 sat at the default dust relay fee).
        if (takes_change && total - paid >= Amount{330}) change = TxOut{total - paid, spk};
        auto funded = vault::WithFeeInputs(m_registry, p, std::move(fees), change, signer);
        if (!funded) continue;
        for (const auto& c : *picked) picked_before.insert(c.outpoint);
        p = std::move(*funded);
    }
}

std::optional<MutableTransaction> Engine::PlanCpfp(const store::RecoveryRow& row) const
{
    if (!m_fee_wallet) return std::nullopt;
    auto parent = DecodeTransaction(row.tx);
    if (!parent) return std::nullopt;
    const vault::FeeRate rate = vault::TargetFeeRate(m_opts.fees, m_fee_estimate, 0, row.deadline_height, m_tip);
    // The parent's own fee is not counted (pre-signed inputs are not always valued): the child
    // may overpay by that much, never underpay.
    // Through the unauthorized recovery's OP_2 anchor too, where the node allows its spend.
    auto child = vault::BuildCpfpChild(*m_fee_wallet, *parent, Amount{0}, rate, m_fee_wallet->Coins(), ReservedFeeCoins(), /*use_anchor=*/true);
    if (!child) {
        log::Main()->warn("recovery {} pays too little and no CPFP child can be built: {}", row.txid.ToString(), vault::ToString(child.error()));
        return std::nullopt;
    }
    return std::move(*child);
}

size_t Engine::LiveVaultCount() const
{
    size_t n = 0;
    for (const auto& by_state : m_registry.tally().by_kind_state) n += by_state[static_cast<size_t>(VaultState::Removed)];
    return m_registry.size() - n;
}

} // namespace vw::daemon
