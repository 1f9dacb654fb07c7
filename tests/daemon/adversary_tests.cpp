// A thief who knows the tower (docs/threat-model.md, "The invariant"): the engine and the chain
// follower in one process against the regtest simulator, driven by a seeded random schedule of
// thief and world actions. After every step the tower settles and the invariant is checked:
//   I1  no unapproved trigger output of a vault whose policy answers triggers is still unspent
//       when the withdrawal could be mined in the next block (a thief at maturity also tries);
//   I2  no recovery is live (it holds fee coins) unless the node has it in its mempool, and
//       every fee coin the tower counts as spent is spent by a transaction the node still has;
//   I3  every trigger the node has seen was alerted on (vault.trigger), and every refusal and
//       every trigger the tower cannot answer on its own is alerted (recovery.failed);
//   I4  an approved withdrawal is never swept, before or after its approval's expiry height.
// Adversity stays inside the invariant's assumptions (a funded fee wallet, blocks with room): a
// bounded number of blocks that leave our sweeps out (reorgs), refusals, late funding.
//
// CI runs a short set of schedules; on demand:
//   VW_ADVERSARY_SCHEDULES=10000 ./build/tests/daemon/vw_daemon_tests --gtest_filter='adversary.*'
// A failure prints the seed; VW_ADVERSARY_SEED=<seed> replays exactly that schedule.
#if VW_HAVE_SIM
#include "inproc_tower.h"
#include "tx_util.h"

#include "script/ctv.h"
#include "vault/trigger_builder.h"

#include <boost/json.hpp>
#include <gtest/gtest.h>

#include <cstdlib>
#include <map>
#include <random>
#include <set>
#include <sstream>
#include <thread>

namespace vw::test {
namespace {
namespace json = boost::json;

Bytes FeeSecret() { return Bytes(32, 0x5a); }

std::filesystem::path TempDir(const std::string& name)
{
    // tmpfs when there is one: a schedule commits a block per step (fsync each).
    const std::filesystem::path base = std::filesystem::exists("/dev/shm") ? "/dev/shm" : std::filesystem::temp_directory_path();
    auto d = base / ("vw-adv-" + name + "-" + std::to_string(::getpid()));
    std::filesystem::remove_all(d);
    return d;
}

struct Coin {
    OutPoint op;
    Amount value;
};

//! One vault of the schedule, as the thief and the owner know it.
struct WorldVault {
    TestOpVault v;
    crypto::KeyPair trigger_key;
    std::string id;
    Bytes recovery_spk;
    int64_t delay{0};
    std::optional<OutPoint> deposit; //!< the confirmed deposit not yet triggered
    Amount value;
    bool authorized{false};
    bool approved_owner{false};      //!< the owner's withdrawal, approved by CTV hash
};

//! A trigger the thief (or the owner) sent, as they know it.
struct Trig {
    size_t vault{0};
    OutPoint deposit;
    Amount value;
    Coin fee;                  //!< its fee input (RBF keeps it, with less change)
    int64_t fee_paid{0};
    Transaction tx{MutableTransaction{}};
    Uint256 ctv;
    MutableTransaction withdrawal_template;
    bool replaced{false};      //!< an RBF took its place
    bool owner{false};         //!< the approved owner withdrawal
};

//! A fixed world for the scripted tests (the schedules draw theirs from the seed).
struct Layout {
    int groups{1};
    int vaults{3};          //!< unauthorized ones (plus one authorized vault)
    int delay{20};
    bool fund_now{true};    //!< the fee wallet holds the reserve from the start
    bool owner{false};      //!< vault 0's owner withdraws (approved)
};

// Public throughout: the scripted tests below drive the same world step by step.
class Schedule
{
public:
    Schedule(uint64_t seed, std::string* log) : m_rng(seed), m_seed(seed), m_log(log) {}
    ~Schedule()
    {
        m_tower.reset();
        if (!m_dir.empty()) std::filesystem::remove_all(m_dir);
    }
    Schedule(const Schedule&) = delete;
    Schedule& operator=(const Schedule&) = delete;

    //! Returns: "" or what broke (with the step).
    std::string Run();

    // --- world helpers -------------------------------------------------------------------
    InprocTower& T() { return *m_tower; }
    int Height() { return static_cast<int>(T().Call("getblockcount").as_int64()); }
    void Note(const std::string& s)
    {
        if (m_log) *m_log += "  step " + std::to_string(m_step) + ": " + s + "\n";
    }
    std::optional<std::string> Send(const Transaction& tx)
    {
        try {
            T().Call("sendrawtransaction", {HexStr(SerializeTransaction(tx))});
            return std::nullopt;
        } catch (const sim::RpcError& e) {
            return std::string(e.what());
        }
    }
    void Mine(int n = 1)
    {
        for (int i = 0; i < n; ++i) {
            T().sim().Generate(1, AnyoneCanSpendAddress());
            m_fresh_coinbases.push_back(Height());
            ThiefWithdrawsAtMaturity();
        }
    }
    bool InMempool(const Txid& t)
    {
        const json::value pool = T().Call("getrawmempool");
        for (const auto& v : pool.as_array()) {
            if (v.as_string() == t.ToString()) return true;
        }
        return false;
    }
    //! The output's confirmed state: unspent on chain (gettxout without the mempool).
    bool UnspentOnChain(const OutPoint& o) { return !T().Call("gettxout", {o.txid.ToString(), o.n, false}).is_null(); }
    Coin TakeCoin()
    {
        if (m_coins.empty()) throw std::runtime_error("the world ran out of coins");
        Coin c = m_coins.back();
        m_coins.pop_back();
        return c;
    }
    //! Splits one mature coinbase into many anyone-can-spend coins (confirmed by the next block).
    void SplitCoinbase(int height, int n, Amount each);
    bool DepositLive(WorldVault& wv);
    Trig BuildTrig(size_t vault, const OutPoint& deposit, Amount value, const Coin& fee, int64_t fee_paid, bool owner);
    MutableTransaction WithdrawalOf(const Trig& t);
    //! The trigger output's tree, and the input that sweeps it through the recover leaf.
    vault::TriggerOutputTree TreeOf(const Trig& t);
    vault::RecoveryInput RecoverInputOf(const Trig& t);
    void ThiefWithdrawsAtMaturity();

    // --- actions ------------------------------------------------------------------------------
    void Setup(const Layout* fixed = nullptr);
    void ThiefTriggers(size_t v, bool mine_it);
    void ThiefRbfsTrigger();
    void DustThenReplace();
    void LargeLowFeeDeposit();
    void NodeRefuses();
    void NodeEvicts();
    void Reorg();
    void FundFeeWallet();
    void ThiefRbfCycle();
    void BlockFullOfTriggers();
    void OwnerWithdrawsApproved();

    // --- the invariant ------------------------------------------------------------------------
    std::string Check(bool final);
    //! The tower's recoveries and events, for a failure's report.
    std::string Recoveries()
    {
        std::ostringstream o;
        o << "\n  recoveries:";
        for (const auto& [txid, r] : T().engine().recoveries()) {
            o << "\n    " << txid.ToString().substr(0, 8) << " " << vault::ToString(r.state) << " " << vault::ToString(r.kind) << " trigger " << r.trigger_txid.ToString().substr(0, 8)
              << " deadline " << r.deadline_height.value_or(-1) << " " << r.last_error;
        }
        o << "\n  events:";
        if (auto ev = T().store().LoadEvents(0, 100'000)) {
            for (const auto& e : *ev) o << "\n    " << e.type << " " << e.vault_id << " " << e.txid.substr(0, 8) << " " << e.data;
        }
        return o.str();
    }

    std::mt19937_64 m_rng;
    uint64_t m_seed;
    std::string* m_log;
    int m_step{0};
    std::filesystem::path m_dir;
    std::unique_ptr<InprocTower> m_tower;
    std::vector<Coin> m_coins;
    std::vector<int> m_fresh_coinbases;
    std::vector<WorldVault> m_vaults;
    std::vector<Trig> m_trigs;
    int m_refusals_left{0};
    int m_reorgs_left{2};
    int m_refusal_budget{3};
    int m_evictions_left{3};
    bool m_fee_funded{false};
    int m_fund_by{-1};         //!< height by which the fee wallet is funded (late funding)
    std::set<Bytes> m_recovery_spks;
    std::string m_failure;
};

int Rand(std::mt19937_64& rng, int lo, int hi) { return std::uniform_int_distribution<int>(lo, hi)(rng); }

void Schedule::SplitCoinbase(int height, int n, Amount each)
{
    const std::string hash{T().Call("getblockhash", {height}).as_string()};
    const auto block = DecodeBlock(*ParseHex(std::string_view{T().Call("getblock", {hash, 0}).as_string()}));
    const Transaction& cb = block->txs.at(0);
    each = Amount{(cb.vout().at(0).value.sats() - 20'000) / n};
    MutableTransaction m = Spend({cb.GetTxid(), 0}, each, AnyoneCanSpend());
    m.vout.clear();
    for (int i = 0; i < n; ++i) m.vout.push_back({each, AnyoneCanSpend()});
    const Transaction tx{m};
    if (auto e = Send(tx)) throw std::runtime_error("split: " + *e);
    for (int i = 0; i < n; ++i) m_coins.insert(m_coins.begin(), {{tx.GetTxid(), static_cast<uint32_t>(i)}, each});
}

Trig Schedule::BuildTrig(size_t vi, const OutPoint& deposit, Amount value, const Coin& fee, int64_t fee_paid, bool owner)
{
    const WorldVault& wv = m_vaults[vi];
    Trig t;
    t.vault = vi;
    t.deposit = deposit;
    t.value = value;
    t.fee = fee;
    t.fee_paid = fee_paid;
    t.owner = owner;
    // The thief withdraws to their own key; the owner to theirs.
    t.withdrawal_template = vault::WithdrawalTemplate(wv.delay, value - Amount{5'000}, P2TR(owner ? 0xaa : 0xee));
    t.ctv = ctv::TemplateHash(t.withdrawal_template, 0);
    vault::TriggerRequest tr;
    tr.deposit = deposit;
    tr.deposit_value = value;
    tr.ctv_hash = t.ctv;
    tr.fee_input = vault::TriggerRequest::FeeInput{fee.op, TxOut{fee.value, AnyoneCanSpend()}, {kOpTrue}};
    tr.change = TxOut{fee.value - Amount{fee_paid}, AnyoneCanSpend()};
    auto trig = vault::BuildTrigger(wv.v.vault, tr, wv.trigger_key);
    if (!trig) throw std::runtime_error("trigger: " + trig.error());
    t.tx = Transaction{*trig};
    return t;
}

vault::TriggerOutputTree Schedule::TreeOf(const Trig& t)
{
    const vault::Vault& v = m_vaults[t.vault].v.vault;
    const std::vector<Bytes> items{Bytes(t.ctv.bytes.begin(), t.ctv.bytes.end())};
    return *v.TriggerOutput(v.trigger_indices()[0], *vault::BuildLeafUpdateScript(v.trigger_leaf(0), items));
}

vault::RecoveryInput Schedule::RecoverInputOf(const Trig& t)
{
    const vault::Vault& v = m_vaults[t.vault].v.vault;
    const auto tree = TreeOf(t);
    return vault::RecoveryInput{{t.tx.GetTxid(), 0}, TxOut{t.value, tree.script_pubkey}, v.tree().leaves()[v.recover_index()].script,
                                tree.recover_cb.Serialize(), m_vaults[t.vault].recovery_spk};
}

MutableTransaction Schedule::WithdrawalOf(const Trig& t)
{
    const auto tree = TreeOf(t);
    MutableTransaction w = t.withdrawal_template;
    w.vin[0].prevout = {t.tx.GetTxid(), 0};
    w.vin[0].witness = {tree.tree.leaves()[tree.withdraw_index].script, tree.withdraw_cb.Serialize()};
    return w;
}

void Schedule::ThiefWithdrawsAtMaturity()
{
    // BIP-68: the withdrawal may be mined at (trigger height + delay); it goes to the mempool as
    // soon as the next block could include it. The simulator does not check sequence locks, so
    // the world only sends it then.
    const int tip = Height();
    for (const auto& t : m_trigs) {
        if (t.replaced) continue;
        const OutPoint out{t.tx.GetTxid(), 0};
        auto conf = T().Call("gettxout", {out.txid.ToString(), out.n, false});
        if (conf.is_null()) continue;
        const int h = tip - static_cast<int>(conf.at("confirmations").as_int64()) + 1;
        if (tip + 1 >= h + m_vaults[t.vault].delay) (void)Send(Transaction{WithdrawalOf(t)});
    }
}

void Schedule::Setup(const Layout* fixed)
{
    m_dir = TempDir(std::to_string(m_seed));
    InprocTower::Options o;
    o.fee_secret = FeeSecret();
    o.engine.fees.fallback = vault::FeeRate{2'000};
    o.engine.fee_coins = 0;
    m_tower = std::make_unique<InprocTower>(m_dir, o);
    T().sim().Generate(110, AnyoneCanSpendAddress());
    // Miners take 1 sat/vB and up (-blockmintxfee): what pays less waits, as on a busy day.
    T().sim().SetBlockMinFee(1'000);
    SplitCoinbase(1, 60, Amount{40'000'000});
    Mine(1);
    // Vaults: two recovery groups of unauthorized vaults, one authorized vault. The thief holds
    // every trigger key; recovery keys are the owner's.
    const auto internal = TestKey(0x11).PubKey();
    const int ngroups = fixed ? fixed->groups : Rand(m_rng, 1, 2);
    const int nvaults = fixed ? fixed->vaults : Rand(m_rng, 2, 5);
    auto delay = [&] { return fixed ? fixed->delay : Rand(m_rng, 18, 24); };
    for (int i = 0; i < nvaults; ++i) {
        WorldVault wv{MakeTestOpVault(internal, TestKey(static_cast<uint8_t>(0x30 + i)).PubKey(), P2TR(static_cast<uint8_t>(0x70 + i % ngroups)),
                                      delay()),
                      TestKey(static_cast<uint8_t>(0x30 + i))};
        wv.recovery_spk = P2TR(static_cast<uint8_t>(0x70 + i % ngroups));
        wv.delay = wv.v.vault.trigger_leaf(0).spend_delay.value_or(0);
        m_vaults.push_back(std::move(wv));
    }
    {
        WorldVault wv{MakeAuthorizedTestOpVault(internal, TestKey(0x50).PubKey(), P2TR(0x7a), delay(), 0x51), TestKey(0x50)};
        wv.recovery_spk = P2TR(0x7a);
        wv.delay = wv.v.vault.trigger_leaf(0).spend_delay.value_or(0);
        wv.authorized = true;
        m_vaults.push_back(std::move(wv));
    }
    // One vault's owner will withdraw (approved); it is never the thief's.
    if (fixed) m_vaults[0].approved_owner = fixed->owner;
    else m_vaults[static_cast<size_t>(Rand(m_rng, 0, static_cast<int>(m_vaults.size()) - 1))].approved_owner = Rand(m_rng, 0, 1) == 1;
    // Deposits, confirmed.
    for (auto& wv : m_vaults) {
        const Coin c = TakeCoin();
        wv.value = Amount{fixed ? 10'000'000 : Rand(m_rng, 1, 30) * 1'000'000};
        MutableTransaction m = Spend(c.op, wv.value, wv.v.vault.ScriptPubKey());
        m.vout.push_back({c.value - wv.value - Amount{2'000}, AnyoneCanSpend()});
        const Transaction tx{m};
        if (auto e = Send(tx)) throw std::runtime_error("deposit: " + *e);
        wv.deposit = OutPoint{tx.GetTxid(), 0};
        m_coins.insert(m_coins.begin(), {{tx.GetTxid(), 1}, c.value - wv.value - Amount{2'000}});
        m_recovery_spks.insert(wv.recovery_spk);
    }
    Mine(1);
    T().Start();
    for (auto& wv : m_vaults) {
        auto r = T().engine().RegisterVault(json::parse(wv.v.registration).as_object());
        if (!r) throw std::runtime_error("register: " + r.error().message);
        wv.id = std::string(r->at("vault_id").as_string());
    }
    // The fee wallet: funded now (its reserve), or late (after the first trigger, within 3 blocks).
    if (fixed ? fixed->fund_now : Rand(m_rng, 0, 3) > 0) {
        FundFeeWallet();
    } else if (fixed) {
        Note("fee wallet empty");
    } else {
        m_fund_by = -2; // funded at most 3 blocks after the first trigger
        Note("fee wallet empty until after the first trigger");
    }
    // Our sweeps, as the node sees them: any transaction paying a recovery scriptPubKey.
    T().sim().SetPolicyHook([this](const Transaction& tx) -> std::optional<std::string> {
        if (m_refusals_left <= 0) return std::nullopt;
        const bool ours = std::any_of(tx.vout().begin(), tx.vout().end(), [&](const TxOut& o) { return m_recovery_spks.count(o.script_pubkey) > 0; });
        if (!ours) return std::nullopt;
        --m_refusals_left;
        return std::string("scriptpubkey");
    });
    T().Settle();
}

void Schedule::FundFeeWallet()
{
    // Exactly the reserve getfeewallet asks for: one coin per sweepable vault, no more.
    auto w = T().engine().GetFeeWallet(std::nullopt);
    if (!w) throw std::runtime_error("getfeewallet: " + w.error().message);
    const auto& need = w->at("reserve_needed");
    const int coins = static_cast<int>(need.at("recoveries").to_number<int64_t>());
    const int64_t each = need.at("coin").to_number<int64_t>();
    const Coin c = TakeCoin();
    MutableTransaction m = Spend(c.op, Amount{each}, T().fee_wallet_model().ScriptPubKey());
    m.vout.clear();
    for (int i = 0; i < coins; ++i) m.vout.push_back({Amount{each}, T().fee_wallet_model().ScriptPubKey()});
    m.vout.push_back({c.value - Amount{each * coins + 3'000}, AnyoneCanSpend()});
    const Transaction tx{m};
    if (auto e = Send(tx)) throw std::runtime_error("fund: " + *e);
    m_coins.insert(m_coins.begin(), {{tx.GetTxid(), static_cast<uint32_t>(coins)}, m.vout.back().value});
    m_fee_funded = true;
    Mine(1);
    Note("fee wallet funded with " + std::to_string(coins) + " coins of " + std::to_string(each) + " sat");
}

bool Schedule::DepositLive(WorldVault& wv)
{
    // A group sweep may have taken it (an unauthorized recovery sweeps the whole group).
    if (wv.deposit && T().Call("gettxout", {wv.deposit->txid.ToString(), wv.deposit->n, true}).is_null()) wv.deposit.reset();
    return wv.deposit.has_value();
}

void Schedule::ThiefTriggers(size_t vi, bool mine_it)
{
    WorldVault& wv = m_vaults[vi];
    if (!DepositLive(wv)) return;
    Trig t = BuildTrig(vi, *wv.deposit, wv.value, TakeCoin(), 3'000, false);
    if (auto e = Send(t.tx)) {
        Note("trigger refused: " + *e);
        return;
    }
    wv.deposit.reset();
    Note("thief triggers vault " + std::to_string(vi) + " (" + t.tx.GetTxid().ToString().substr(0, 8) + ")" + (mine_it ? ", mined at once" : ""));
    m_trigs.push_back(std::move(t));
    if (m_fund_by == -2) m_fund_by = Height() + Rand(m_rng, 0, 3);
    if (mine_it) Mine(1);
}

void Schedule::ThiefRbfsTrigger()
{
    // The newest trigger still in the mempool, replaced by the same trigger paying more: our
    // sweep (its child) is evicted with it.
    for (auto it = m_trigs.rbegin(); it != m_trigs.rend(); ++it) {
        if (it->replaced || it->owner || !InMempool(it->tx.GetTxid())) continue;
        Trig t = BuildTrig(it->vault, it->deposit, it->value, it->fee, it->fee_paid + Rand(m_rng, 2'000, 40'000), false);
        if (auto e = Send(t.tx)) {
            Note("trigger RBF refused: " + *e);
            return;
        }
        it->replaced = true;
        Note("thief replaces trigger " + it->tx.GetTxid().ToString().substr(0, 8) + " by " + t.tx.GetTxid().ToString().substr(0, 8));
        m_trigs.push_back(std::move(t));
        return;
    }
}

void Schedule::ThiefRbfCycle()
{
    // T, T', T'', ...: each replacement evicts the sweep of the one before; each new sweep needs a
    // fee coin, and only the dead sweeps' coins can pay for it.
    const int n = Rand(m_rng, 2, 6);
    for (int i = 0; i < n; ++i) {
        ThiefRbfsTrigger();
        T().Settle();
    }
}

void Schedule::DustThenReplace()
{
    // Dust to a vault of a group, then the dust is replaced away: a sweep that took it dies.
    const size_t vi = static_cast<size_t>(Rand(m_rng, 0, static_cast<int>(m_vaults.size()) - 1));
    const Coin c = TakeCoin();
    MutableTransaction dust = Spend(c.op, Amount{1'000}, m_vaults[vi].v.vault.ScriptPubKey());
    dust.vout.push_back({c.value - Amount{1'000} - Amount{1'000}, AnyoneCanSpend()});
    if (auto e = Send(Transaction{dust})) return;
    Note("dust to vault " + std::to_string(vi));
    T().Settle();
    MutableTransaction away = Spend(c.op, c.value - Amount{30'000}, AnyoneCanSpend());
    const Transaction a{away};
    if (!Send(a)) {
        m_coins.insert(m_coins.begin(), {{a.GetTxid(), 0}, c.value - Amount{30'000}});
        Note("dust replaced away");
    }
}

void Schedule::LargeLowFeeDeposit()
{
    // A large deposit below what miners take (a pin: a sweep spending it is never mined), left
    // unconfirmed.
    const size_t vi = static_cast<size_t>(Rand(m_rng, 0, static_cast<int>(m_vaults.size()) - 1));
    const Coin c = TakeCoin();
    // Large in value and in size (a sweep that spent it would pay for all of it): ~8,000 vB at
    // 0.15 sat/vB.
    MutableTransaction m = Spend(c.op, Amount{0}, m_vaults[vi].v.vault.ScriptPubKey());
    for (int k = 0; k < 180; ++k) m.vout.push_back({Amount{1'000}, AnyoneCanSpend()});
    const int64_t vsize = static_cast<int64_t>(Transaction{m}.VSize());
    m.vout[0].value = c.value - Amount{180 * 1'000} - Amount{vsize * 150 / 1000 + 1};
    if (!Send(Transaction{m})) Note("large low-fee deposit to vault " + std::to_string(vi));
}

void Schedule::NodeRefuses()
{
    if (m_refusal_budget <= 0) return;
    m_refusals_left = 1;
    --m_refusal_budget;
    Note("the node refuses our next sweep");
}

void Schedule::NodeEvicts()
{
    if (m_evictions_left <= 0) return;
    for (const auto& [txid, r] : T().engine().recoveries()) {
        if (r.state == vault::RecoveryState::Broadcast && T().sim().Evict(txid)) {
            --m_evictions_left;
            Note("the node evicts our sweep " + txid.ToString().substr(0, 8));
            return;
        }
    }
}

void Schedule::Reorg()
{
    if (m_reorgs_left <= 0) return;
    --m_reorgs_left;
    const int depth = Rand(m_rng, 1, 2);
    T().sim().Reorg(depth);
    ThiefWithdrawsAtMaturity();
    Note("reorg of depth " + std::to_string(depth));
}

void Schedule::BlockFullOfTriggers()
{
    // Harding: every vault still untriggered, triggered in one block the tower first sees whole
    // (sent and mined before it looks).
    size_t n = 0;
    for (size_t vi = 0; vi < m_vaults.size(); ++vi) {
        WorldVault& wv = m_vaults[vi];
        if (!DepositLive(wv) || wv.approved_owner) continue;
        Trig t = BuildTrig(vi, *wv.deposit, wv.value, TakeCoin(), 3'000, false);
        if (Send(t.tx)) continue;
        wv.deposit.reset();
        m_trigs.push_back(std::move(t));
        ++n;
    }
    if (n == 0) return;
    Mine(1);
    if (m_fund_by == -2) m_fund_by = Height() + Rand(m_rng, 0, 3);
    Note("a block full of triggers (" + std::to_string(n) + ")");
}

void Schedule::OwnerWithdrawsApproved()
{
    for (size_t vi = 0; vi < m_vaults.size(); ++vi) {
        WorldVault& wv = m_vaults[vi];
        if (!wv.approved_owner || !DepositLive(wv)) continue;
        Trig t = BuildTrig(vi, *wv.deposit, wv.value, TakeCoin(), 3'000, true);
        // Approved up to the next block only: the withdrawal matures long after the expiry.
        json::object a{{"ctv_hash", HexStr(t.ctv.span())}, {"expiry_height", Height() + 1}};
        auto r = T().engine().ApproveTrigger(*vault::VaultId::Parse(wv.id), a);
        if (!r) throw std::runtime_error("approve: " + r.error().message);
        if (auto e = Send(t.tx)) throw std::runtime_error("owner trigger: " + *e);
        wv.deposit.reset();
        m_trigs.push_back(std::move(t));
        Note("the owner withdraws from vault " + std::to_string(vi) + " (approved until the next block)");
        return;
    }
}

std::string Schedule::Check(bool final)
{
    const int tip = Height();
    std::set<std::string> alerted;
    {
        auto ev = T().store().LoadEvents(0, 1'000'000);
        if (!ev) return "cannot read events: " + ev.error().message;
        for (const auto& e : *ev) {
            if (e.type == "vault.trigger") alerted.insert(e.txid);
        }
    }
    std::set<std::string> mempool;
    const json::value pool = T().Call("getrawmempool");
    for (const auto& v : pool.as_array()) mempool.emplace(v.as_string());
    for (const auto& t : m_trigs) {
        const OutPoint out{t.tx.GetTxid(), 0};
        auto conf = T().Call("gettxout", {out.txid.ToString(), out.n, false});
        // I3: seen = alerted.
        if ((mempool.count(out.txid.ToString()) || (!conf.is_null())) && !alerted.count(out.txid.ToString())) {
            return "I3: trigger " + out.txid.ToString() + " was never alerted on";
        }
        if (t.owner) {
            // I4: the approved withdrawal is never swept (no recovery of ours spends it, ever).
            for (const auto& [txid, r] : T().engine().recoveries()) {
                auto tx = DecodeTransaction(r.tx);
                if (!tx) continue;
                for (const auto& in : tx->vin()) {
                    if (in.prevout == out) return "I4: the approved withdrawal " + out.txid.ToString() + " is swept by " + txid.ToString() + " (" + std::string(vault::ToString(r.state)) + ")";
                }
            }
            continue;
        }
        if (conf.is_null()) continue; // unconfirmed, replaced, or spent on chain
        const int h = tip - static_cast<int>(conf.at("confirmations").as_int64()) + 1;
        const int deadline = h + static_cast<int>(m_vaults[t.vault].delay) - 1;
        // I1: at the deadline the next block may carry the thief's withdrawal.
        if (tip >= deadline) {
            return "I1: trigger " + out.txid.ToString() + " (vault " + std::to_string(t.vault) + ", confirmed at " + std::to_string(h) +
                   ", delay " + std::to_string(m_vaults[t.vault].delay) + ") is still unswept at height " + std::to_string(tip);
        }
    }
    // The thief's withdrawal never confirmed.
    for (const auto& t : m_trigs) {
        if (t.owner) continue;
        const Txid w = Transaction{WithdrawalOf(t)}.GetTxid();
        if (UnspentOnChain({w, 0})) return "I1: the thief's withdrawal " + w.ToString() + " confirmed";
    }
    // I2: a live recovery is in the node's mempool (or confirmed, and then known so).
    for (const auto& [txid, r] : T().engine().recoveries()) {
        if (vault::IsLive(r.state) && !mempool.count(txid.ToString())) {
            return "I2: recovery " + txid.ToString() + " is " + std::string(vault::ToString(r.state)) + " but not in the node's mempool (" + r.last_error + ")";
        }
    }
    if (const auto* w = T().engine().fee_wallet()) {
        for (const auto& c : w->Coins()) {
            if (!c.spent_by) continue;
            if (!UnspentOnChain(c.outpoint)) continue; // spent on chain: the wallet learns it with the block
            if (!mempool.count(c.spent_by->ToString())) {
                return "I2: fee coin " + c.outpoint.txid.ToString() + ":" + std::to_string(c.outpoint.n) + " is held by " + c.spent_by->ToString() +
                       ", which the node does not have";
            }
        }
    }
    (void)final;
    return "";
}

std::string Schedule::Run()
{
    try {
        Setup();
        const int steps = Rand(m_rng, 18, 30);
        for (m_step = 1; m_step <= steps; ++m_step) {
            const int a = Rand(m_rng, 0, 99);
            if (a < 16) ThiefTriggers(static_cast<size_t>(Rand(m_rng, 0, static_cast<int>(m_vaults.size()) - 1)), Rand(m_rng, 0, 3) == 0);
            else if (a < 24) ThiefRbfsTrigger();
            else if (a < 30) ThiefRbfCycle();
            else if (a < 36) DustThenReplace();
            else if (a < 40) LargeLowFeeDeposit();
            else if (a < 44) NodeRefuses();
            else if (a < 48) NodeEvicts();
            else if (a < 51) Reorg();
            else if (a < 54) T().Restart(), Note("the tower restarts");
            else if (a < 56) BlockFullOfTriggers();
            else if (a < 60) OwnerWithdrawsApproved();
            else Mine(1), Note("a block");
            if (m_fund_by >= 0 && !m_fee_funded && Height() >= m_fund_by) FundFeeWallet();
            T().Settle();
            if (auto f = Check(false); !f.empty()) return "step " + std::to_string(m_step) + ": " + f + Recoveries();
        }
        // The world settles: blocks with room, no more adversity, until every trigger matured.
        m_refusals_left = 0;
        if (!m_fee_funded) FundFeeWallet();
        int max_delay = 0;
        for (const auto& v : m_vaults) max_delay = std::max<int>(max_delay, static_cast<int>(v.delay));
        for (int i = 0; i < max_delay + 2; ++i) {
            Mine(1);
            T().Settle();
            if (auto f = Check(true); !f.empty()) return "settling, block " + std::to_string(i) + ": " + f + Recoveries();
        }
        // Every thief trigger ended at a recovery scriptPubKey.
        for (const auto& t : m_trigs) {
            if (t.owner || t.replaced) continue;
            const OutPoint out{t.tx.GetTxid(), 0};
            if (!T().Call("gettxout", {out.txid.ToString(), out.n, true}).is_null()) {
                return "end: trigger " + out.txid.ToString() + " still unspent after every delay";
            }
        }
    } catch (const std::exception& e) {
        return "step " + std::to_string(m_step) + ": exception: " + e.what();
    }
    return "";
}

// --- the review's findings, one scripted test each ---------------------------------------------
// Each fails on the engine as it was before the recovery loop healed itself (commit cd010ce) and
// passes now.

struct Scripted {
    std::string log;
    Schedule s;
    Scripted(uint64_t seed, Layout l) : s(seed, &log) { s.Setup(&l); }
    InprocTower& T() { return s.T(); }
    std::vector<store::EventRow> Events(const std::string& type)
    {
        std::vector<store::EventRow> out;
        auto ev = T().store().LoadEvents(0, 1'000'000);
        for (const auto& e : *ev) {
            if (e.type == type) out.push_back(e);
        }
        return out;
    }
    //! Our recoveries spending out, by state.
    std::vector<store::RecoveryRow> Sweeping(const OutPoint& out)
    {
        std::vector<store::RecoveryRow> v;
        for (const auto& [_, r] : T().engine().recoveries()) {
            auto tx = DecodeTransaction(r.tx);
            if (tx && std::any_of(tx->vin().begin(), tx->vin().end(), [&](const TxIn& in) { return in.prevout == out; })) v.push_back(r);
        }
        return v;
    }
    bool SweptOnChain(const OutPoint& out) { return T().Call("gettxout", {out.txid.ToString(), out.n, true}).is_null() && !Confirmed(out); }
    bool Confirmed(const OutPoint& out) { return !T().Call("gettxout", {out.txid.ToString(), out.n, false}).is_null(); }
    std::string Check() { return s.Check(false); }
    void Settle() { T().Settle(); }
};

TEST(thief, ARefusedRecoveryIsPlannedAgainOnceTheFeeWalletIsFunded)
{
    // Finding 1: a recovery planned while no fee coin was ready went out with no fee, was refused,
    // and stayed refused after the wallet was funded (a failed recovery still "answered" it).
    Layout l;
    l.fund_now = false;
    Scripted w(101, l);
    w.s.ThiefTriggers(0, /*mine_it=*/true);
    w.Settle();
    const OutPoint out{w.s.m_trigs.back().tx.GetTxid(), 0};
    ASSERT_FALSE(w.Sweeping(out).empty());
    EXPECT_EQ(w.Sweeping(out).front().state, vault::RecoveryState::Failed) << "no fee: refused";
    EXPECT_FALSE(w.Events("recovery.failed").empty());
    w.s.FundFeeWallet();
    w.Settle();
    w.s.Mine(1);
    w.Settle();
    EXPECT_TRUE(w.SweptOnChain(out)) << w.s.Recoveries();
    EXPECT_EQ(w.Check(), "");
}

TEST(thief, AKillBetweenASweepsSendAndItsRecordLosesNoVault)
{
    // The sweep goes to the node before its record is written. Killed in between, the tower
    // restarts with no record of a sweep the node has: the trigger is found again in the node's
    // mempool and answered again, with the same sweep, which the node already has; it is recorded
    // then, and confirms. Nothing is left unanswered, and the invariants hold.
    Layout l;
    Scripted w(111, l);
    w.s.ThiefTriggers(0, /*mine_it=*/false);
    ASSERT_FALSE(w.s.m_trigs.empty());
    const OutPoint out{w.s.m_trigs.back().tx.GetTxid(), 0};
    bool sent = false;
    w.T().AfterNextSend([&] { sent = true; });
    w.T().HearOnZmq(w.s.m_trigs.back().tx, /*raw_from_node=*/true, /*add_from_node=*/true);
    for (int i = 0; i < 10'000 && !sent; ++i) {
        if (w.T().io().poll_one() == 0) w.T().io().restart();
    }
    ASSERT_TRUE(sent) << "the sweep reached the node";
    EXPECT_TRUE(w.T().store().LoadRecoveries()->empty()) << "written before it was sent: the window this test is about is gone";
    w.T().Kill();
    w.Settle();
    // The same sweep planned again (the fee coin is chosen as before): the node's, now recorded.
    const auto sweeps = w.Sweeping(out);
    ASSERT_EQ(sweeps.size(), 1u) << w.s.Recoveries();
    EXPECT_TRUE(w.s.InMempool(sweeps.front().txid));
    EXPECT_EQ(sweeps.front().state, vault::RecoveryState::Broadcast);
    w.s.Mine(1);
    w.Settle();
    EXPECT_TRUE(w.SweptOnChain(out)) << w.s.Recoveries() << w.log;
    EXPECT_EQ(w.Check(), "");
}

TEST(thief, ADustDepositCannotEvictOrPinTheSweep)
{
    // Finding 2: the sweep took every output of the group, unconfirmed deposits too: dust paid to
    // a vault of the group and then replaced away evicted it; a large deposit below the miners'
    // floor pinned it.
    Layout l;
    l.groups = 1;
    Scripted w(102, l);
    const Coin c = w.s.TakeCoin();
    MutableTransaction dust = Spend(c.op, Amount{1'000}, w.s.m_vaults[1].v.vault.ScriptPubKey());
    dust.vout.push_back({c.value - Amount{2'000}, AnyoneCanSpend()});
    ASSERT_FALSE(w.s.Send(Transaction{dust}));
    w.s.LargeLowFeeDeposit(); // to a random vault of the group
    w.Settle();
    w.s.ThiefTriggers(0, /*mine_it=*/false);
    w.Settle();
    const OutPoint out{w.s.m_trigs.back().tx.GetTxid(), 0};
    const auto sweeps = w.Sweeping(out);
    ASSERT_EQ(sweeps.size(), 1u);
    EXPECT_EQ(sweeps.front().state, vault::RecoveryState::Broadcast);
    auto tx = DecodeTransaction(sweeps.front().tx);
    for (const auto& in : tx->vin()) EXPECT_NE(in.prevout, (OutPoint{Transaction{dust}.GetTxid(), 0})) << "the sweep took the dust";
    // The dust is replaced away: the sweep stays.
    MutableTransaction away = Spend(c.op, c.value - Amount{30'000}, AnyoneCanSpend());
    ASSERT_FALSE(w.s.Send(Transaction{away}));
    w.Settle();
    EXPECT_TRUE(w.s.InMempool(sweeps.front().txid));
    w.s.Mine(1);
    w.Settle();
    EXPECT_TRUE(w.SweptOnChain(out)) << w.s.Recoveries();
    EXPECT_EQ(w.Check(), "");
}

TEST(thief, RbfCyclingTheTriggerDoesNotDrainTheFeeWallet)
{
    // Finding 3: every replacement of the trigger made a new sweep, each holding a fee coin for
    // good: within a few replacements the reserve was gone and the next sweep had no fee.
    Layout l;
    Scripted w(103, l);
    w.s.ThiefTriggers(0, /*mine_it=*/false);
    w.Settle();
    for (int i = 0; i < 10; ++i) {
        w.s.ThiefRbfsTrigger();
        w.Settle();
        EXPECT_LE(w.T().engine().FeeCoinHolders().size(), 1u) << "only the live sweep holds a coin";
        ASSERT_EQ(w.Check(), "");
    }
    w.s.Mine(1);
    w.Settle();
    EXPECT_TRUE(w.SweptOnChain({w.s.m_trigs.back().tx.GetTxid(), 0})) << w.s.Recoveries();
    // The reserve is whole but for the coin that swept.
    auto fw = w.T().engine().GetFeeWallet(std::nullopt);
    size_t free = 0;
    for (const auto& u : fw->at("utxos").as_array()) free += u.at("spent_by").is_null() && u.at("held_by").is_null();
    EXPECT_EQ(free + 1, static_cast<size_t>(fw->at("reserve_needed").at("recoveries").to_number<int64_t>()));
}

TEST(thief, AMinedRecoveryThatBreaksOnlyPolicyStillRecoversTheVault)
{
    // Finding 4: the BIP-345 rules the node enforces only in its mempool (replaceable inputs, the
    // unauthorized output shape) were applied to mined transactions, and a flagged spend was
    // dropped in silence: the vault stayed active over a spent output.
    Layout l;
    Scripted w(104, l);
    w.s.ThiefTriggers(0, /*mine_it=*/true);
    w.Settle();
    const Trig& t = w.s.m_trigs.back();
    const OutPoint out{t.tx.GetTxid(), 0};
    // Someone's unauthorized recovery of the trigger output without the anchor and not
    // replaceable, mined directly (a miner takes it).
    const vault::RecoveryInput in = w.s.RecoverInputOf(t);
    ASSERT_EQ(in.outpoint, out);
    auto theirs = vault::BuildUnauthorizedRecovery(std::span{&in, 1});
    ASSERT_TRUE(theirs);
    theirs->vout.pop_back();            // no anchor
    theirs->vin[0].sequence = 0xffffffff; // not replaceable
    json::array txs;
    txs.emplace_back(HexStr(SerializeTransaction(*theirs)));
    w.T().Call("generateblock", {AnyoneCanSpendAddress(), txs});
    w.Settle();
    auto vj = w.T().engine().GetVault(*vault::VaultId::Parse(w.s.m_vaults[0].id));
    ASSERT_TRUE(vj);
    EXPECT_EQ(vj->at("state"), "recovered") << json::serialize(*vj);
    // Our own sweep of it, live until that block, is conflicted; the block's batch commits (the
    // store's CHECK once refused the state, and the whole block with it).
    const auto ours = w.Sweeping(out);
    ASSERT_FALSE(ours.empty());
    EXPECT_EQ(ours.front().state, vault::RecoveryState::Conflicted) << w.s.Recoveries();
    EXPECT_EQ(w.T().follower().status().store_failures, 0u) << w.T().follower().status().store_error;
    auto stored = w.T().store().LoadRecoveries();
    ASSERT_TRUE(stored);
    EXPECT_TRUE(std::any_of(stored->begin(), stored->end(), [&](const store::RecoveryRow& r) { return r.state == vault::RecoveryState::Conflicted; }));
    // A spend that fails our checks is alerted on, never dropped: a thief's "recovery" in the
    // mempool paying elsewhere.
    Scripted w2(105, l);
    w2.s.ThiefTriggers(1, /*mine_it=*/true);
    w2.Settle();
    const Trig& t2 = w2.s.m_trigs.back();
    const vault::RecoveryInput in2 = w2.s.RecoverInputOf(t2);
    auto fake = vault::BuildUnauthorizedRecovery(std::span{&in2, 1});
    ASSERT_TRUE(fake);
    fake->vout[0].script_pubkey = P2TR(0xee); // not the recovery address (invalid under OP_VAULT; this simulator runs no scripts)
    const size_t before = w2.Events("vault.unexpected_spend").size();
    json::array fakes;
    fakes.emplace_back(HexStr(SerializeTransaction(*fake)));
    w2.T().Call("generateblock", {AnyoneCanSpendAddress(), fakes});
    w2.Settle();
    const auto alerts = w2.Events("vault.unexpected_spend");
    ASSERT_GT(alerts.size(), before) << "a flagged spend is alerted";
    EXPECT_NE(alerts.back().data.find("\"check_error\""), std::string::npos) << alerts.back().data;
    // Mined, it spent the trigger output: no sweep of it stays live.
    for (const auto& r : w2.Sweeping({t2.tx.GetTxid(), 0})) EXPECT_NE(r.state, vault::RecoveryState::Broadcast) << w2.s.Recoveries();
}

TEST(thief, AnApprovedWithdrawalIsNotSweptWhenTheApprovalExpiresWhileItMatures)
{
    // Finding 6: an approval's expiry was compared with the tip at every block, so an approved
    // withdrawal still maturing was swept once the tip passed the expiry; and a trigger first
    // seen in the mempool had no deadline.
    Layout l;
    l.owner = true;
    Scripted w(106, l);
    w.s.OwnerWithdrawsApproved(); // approved until the next block only
    w.Settle();
    const OutPoint out{w.s.m_trigs.back().tx.GetTxid(), 0};
    for (int i = 0; i < l.delay + 2; ++i) {
        w.s.Mine(1);
        w.Settle();
        ASSERT_TRUE(w.Sweeping(out).empty()) << "block " << i << ": " << w.s.Recoveries();
    }
    EXPECT_EQ(w.Check(), "");
    // A thief's trigger first seen in the mempool at tip T is due at T + delay.
    const int tip = w.s.Height();
    w.s.ThiefTriggers(1, /*mine_it=*/false);
    w.Settle();
    const auto sweeps = w.Sweeping({w.s.m_trigs.back().tx.GetTxid(), 0});
    ASSERT_EQ(sweeps.size(), 1u);
    EXPECT_EQ(sweeps.front().deadline_height, tip + l.delay);
}

TEST(thief, AMempoolTriggerIsAnsweredWithoutZmq)
{
    // Finding 7: with no ZMQ (or rawtx without sequence) the mempool was read only after a gap:
    // triggers were seen only once mined. This tower has no ZMQ at all: the poll finds it.
    Layout l;
    Scripted w(107, l);
    w.s.ThiefTriggers(2, /*mine_it=*/false);
    w.Settle();
    const auto sweeps = w.Sweeping({w.s.m_trigs.back().tx.GetTxid(), 0});
    ASSERT_EQ(sweeps.size(), 1u);
    EXPECT_TRUE(w.s.InMempool(sweeps.front().txid)) << "answered before any block";
}

TEST(thief, AMempoolMassExitSendsEachNewSweepWithoutResendingTheOthers)
{
    // Triggers arriving one by one in the mempool (each vault a recovery group of its own): each
    // new sweep went out only after every earlier live sweep had been sent again, so the n-th
    // trigger waited n-1 round trips (10,000 triggers: quadratic). A new plan is sent alone; the
    // block rebroadcasts what is still unconfirmed.
    Layout l;
    l.groups = 4;
    l.vaults = 4;
    Scripted w(109, l);
    w.Settle();
    const uint64_t sent0 = w.T().engine().stats().broadcasts;
    size_t triggered = 0;
    for (size_t vi = 0; vi < w.s.m_vaults.size(); ++vi) {
        if (!w.s.DepositLive(w.s.m_vaults[vi])) continue;
        w.s.ThiefTriggers(vi, /*mine_it=*/false);
        w.Settle();
        ++triggered;
        ASSERT_EQ(w.Sweeping({w.s.m_trigs.back().tx.GetTxid(), 0}).size(), 1u) << w.s.Recoveries();
        EXPECT_EQ(w.T().engine().stats().broadcasts - sent0, triggered) << "one send per new sweep" << w.s.Recoveries();
    }
    ASSERT_GE(triggered, 3u);
    // A block: the live sweeps the node still has unconfirmed are sent again, once each.
    w.s.Mine(1);
    w.Settle();
    EXPECT_EQ(w.Check(), "");
}

TEST(thief, ANodeDownInAMassExitCostsOneFailedSendPerRetryNotOnePerSweep)
{
    // With the node down, a pass still tried every unsent sweep before it backed off: each a
    // failed connect, or a whole RPC deadline with the node black-holed (a mass exit's thousands,
    // one after the other, while new plans waited for the pass to end). The pass stops at the
    // first send that finds the node down; the retry starts after it.
    Layout l;
    l.groups = 4;
    l.vaults = 4;
    Scripted w(114, l);
    Schedule& s = w.s;
    w.Settle();
    const uint64_t failed0 = w.T().engine().stats().broadcast_failures;
    const uint64_t sent0 = w.T().engine().stats().broadcasts;
    w.T().AfterNextSend([&] { w.T().SetUnreachable(true); }); // down as the first sweep reaches it
    const size_t t0 = s.m_trigs.size();
    s.BlockFullOfTriggers();
    ASSERT_GE(s.m_trigs.size() - t0, 3u);
    w.Settle();
    size_t planned = 0;
    for (const auto& [_, r] : w.T().engine().recoveries()) planned += r.state == vault::RecoveryState::Planned;
    ASSERT_GE(planned, 2u) << "sweeps left to send" << s.Recoveries();
    EXPECT_EQ(w.T().engine().stats().broadcasts - sent0, 1u);
    EXPECT_EQ(w.T().engine().stats().broadcast_failures - failed0, 1u) << "the pass stopped at the first failure" << s.Recoveries();
    // Each retry (125 ms, doubling) costs one call while the node stays down.
    const auto t = std::chrono::steady_clock::now();
    while (std::chrono::steady_clock::now() - t < std::chrono::milliseconds{700}) {
        std::this_thread::sleep_for(std::chrono::milliseconds{20});
        w.Settle();
    }
    const uint64_t failed = w.T().engine().stats().broadcast_failures - failed0;
    EXPECT_GE(failed, 2u) << "retried";
    EXPECT_LE(failed, 5u) << "one call per retry";
    // Back: every sweep goes out at the next retry.
    w.T().SetUnreachable(false);
    for (auto until = std::chrono::steady_clock::now() + std::chrono::seconds{10}; std::chrono::steady_clock::now() < until;) {
        std::this_thread::sleep_for(std::chrono::milliseconds{50});
        w.Settle();
        size_t left = 0;
        for (const auto& [_, r] : w.T().engine().recoveries()) left += r.state == vault::RecoveryState::Planned;
        if (left == 0) break;
    }
    for (size_t k = t0; k < s.m_trigs.size(); ++k) {
        const auto sweeps = w.Sweeping({s.m_trigs[k].tx.GetTxid(), 0});
        ASSERT_EQ(sweeps.size(), 1u) << s.Recoveries();
        EXPECT_TRUE(s.InMempool(sweeps.front().txid)) << s.Recoveries();
    }
    EXPECT_EQ(w.Check(), "");
}

TEST(thief, FeeCoinsTooLargeForTheNodesMaxFeeRateStillSweepWithoutAStormOfRefusals)
{
    // Fee coins of 0.04 BTC for vaults of 0.1 BTC: within the 50% cap of the value at risk, but
    // one spent whole on a ~200 vB sweep pays ~20,000 sat/vB, which sendrawtransaction refuses
    // (maxfeerate 0.10 BTC/kvB). The sweep was refused, planned again at once with the next
    // coin, refused... A coin over the node's maxfeerate is no fee input: the sweep goes out
    // with a CPFP child that takes change.
    Layout l;
    l.fund_now = false;
    Scripted w(110, l);
    Schedule& s = w.s;
    const Coin c = s.TakeCoin();
    MutableTransaction m = Spend(c.op, Amount{4'000'000}, w.T().fee_wallet_model().ScriptPubKey());
    m.vout.clear();
    for (int i = 0; i < 6; ++i) m.vout.push_back({Amount{4'000'000}, w.T().fee_wallet_model().ScriptPubKey()});
    m.vout.push_back({c.value - Amount{24'000'000 + 3'000}, AnyoneCanSpend()});
    ASSERT_FALSE(s.Send(Transaction{m}));
    s.Mine(1);
    w.Settle();
    const uint64_t failures0 = w.T().engine().stats().broadcast_failures;
    size_t vi = 0;
    while (vi < s.m_vaults.size() && (s.m_vaults[vi].authorized || !s.DepositLive(s.m_vaults[vi]))) ++vi;
    ASSERT_LT(vi, s.m_vaults.size());
    s.ThiefTriggers(vi, /*mine_it=*/false);
    w.Settle();
    const auto sweeps = w.Sweeping({s.m_trigs.back().tx.GetTxid(), 0});
    ASSERT_FALSE(sweeps.empty()) << s.Recoveries();
    EXPECT_TRUE(std::any_of(sweeps.begin(), sweeps.end(), [&](const store::RecoveryRow& r) { return s.InMempool(r.txid); })) << s.Recoveries();
    EXPECT_LE(w.T().engine().stats().broadcast_failures - failures0, 1u) << "at most the zero-fee sweep before its CPFP child" << s.Recoveries();
    EXPECT_TRUE(w.Events("recovery.failed").empty()) << s.Recoveries();
}

TEST(thief, AForgedZmqAnnouncementIsNotActedOn)
{
    // A process that took the ZMQ port before bitcoind publishes a trigger of a real vault that the
    // node never saw: the tower asks the node before it records, alerts or sweeps anything, and
    // ignores it. The same trigger sent for real is answered.
    Layout l;
    Scripted w(108, l);
    Schedule& s = w.s;
    size_t vi = 0;
    while (vi < s.m_vaults.size() && !s.DepositLive(s.m_vaults[vi])) ++vi;
    ASSERT_LT(vi, s.m_vaults.size());
    const Trig t = s.BuildTrig(vi, *s.m_vaults[vi].deposit, s.m_vaults[vi].value, s.TakeCoin(), 3'000, false);
    const std::string ep = "tcp://127.0.0.1:28332";
    chain::ZmqMessage raw;
    raw.topic = chain::ZmqTopic::RawTx;
    raw.sequence = 0;
    raw.body = SerializeTransaction(t.tx);
    chain::ZmqMessage seq;
    seq.topic = chain::ZmqTopic::Sequence;
    seq.sequence = 0;
    seq.parsed = chain::SequenceBody{chain::SeqTxAdded{t.tx.GetTxid(), 1}};
    w.T().follower().OnZmqMessage(ep, std::move(raw));
    w.T().follower().OnZmqMessage(ep, std::move(seq));
    w.Settle();
    EXPECT_TRUE(w.Sweeping({t.tx.GetTxid(), 0}).empty()) << "no sweep of a trigger the node does not have";
    EXPECT_TRUE(w.Events("vault.trigger").empty()) << "no alert on ZMQ's word alone";
    EXPECT_TRUE(w.Events("recovery.failed").empty());

    ASSERT_FALSE(s.Send(t.tx));
    w.Settle();
    const auto sweeps = w.Sweeping({t.tx.GetTxid(), 0});
    ASSERT_EQ(sweeps.size(), 1u) << "the real trigger is answered" << s.Recoveries();
    EXPECT_TRUE(s.InMempool(sweeps.front().txid));
    EXPECT_EQ(w.Events("vault.trigger").size(), 1u);
}

TEST(thief, ASweepRightAfterAnotherDoesNotWaitForTheFirstOnesDiskFlush)
{
    // Two triggers a moment apart (the second arrives while the first one's sweep is out): the
    // first pass's bookkeeping does not wait for the disk, the second sweep goes out, and the
    // pass after it flushes both.
    Layout l;
    Scripted w(112, l);
    Schedule& s = w.s;
    std::vector<size_t> vs;
    for (size_t i = 0; i < s.m_vaults.size() && vs.size() < 2; ++i) {
        if (!s.m_vaults[i].authorized && s.DepositLive(s.m_vaults[i])) vs.push_back(i);
    }
    ASSERT_EQ(vs.size(), 2u);
    w.T().AfterNextSend([&] {
        s.ThiefTriggers(vs[1], /*mine_it=*/false);
        // Heard at once on the node's own sockets, while the first sweep's answer is on its way.
        w.T().HearOnZmq(s.m_trigs.back().tx, true, true);
    });
    s.ThiefTriggers(vs[0], /*mine_it=*/false);
    const size_t t0 = s.m_trigs.size() - 1;
    w.Settle();
    ASSERT_EQ(s.m_trigs.size(), t0 + 2);
    const auto first = w.Sweeping({s.m_trigs[t0].tx.GetTxid(), 0});
    const auto second = w.Sweeping({s.m_trigs[t0 + 1].tx.GetTxid(), 0});
    ASSERT_EQ(first.size(), 1u) << s.Recoveries();
    ASSERT_EQ(second.size(), 1u) << s.Recoveries();
    EXPECT_TRUE(s.InMempool(first.front().txid));
    EXPECT_TRUE(s.InMempool(second.front().txid));
    // The writes of the first sweep's row, in order: planned (before its send, not waiting),
    // broadcast (the kicked pass: not waiting), then once more in the commit that waits.
    const auto& writes = w.T().store().recovery_writes();
    auto row_in = [](const FillableStore::RecoveryWrite& wr, const Txid& id, vault::RecoveryState st) {
        return std::any_of(wr.rows.begin(), wr.rows.end(), [&](const auto& r) { return r.first == id && r.second == st; });
    };
    const Txid a = first.front().txid, b = second.front().txid;
    std::vector<size_t> a_broadcast, b_planned;
    for (size_t i = 0; i < writes.size(); ++i) {
        if (row_in(writes[i], a, vault::RecoveryState::Broadcast)) a_broadcast.push_back(i);
        if (row_in(writes[i], b, vault::RecoveryState::Planned)) b_planned.push_back(i);
    }
    ASSERT_GE(a_broadcast.size(), 2u);
    ASSERT_FALSE(b_planned.empty());
    EXPECT_FALSE(writes[a_broadcast.front()].waited) << "the kicked pass's bookkeeping did not wait for the disk";
    EXPECT_TRUE(writes[a_broadcast.back()].waited) << "a later commit flushed it";
    EXPECT_TRUE(row_in(writes[a_broadcast.back()], b, vault::RecoveryState::Broadcast)) << "with the second sweep's";
    EXPECT_TRUE(writes.back().waited) << "the burst ends on the disk";
    EXPECT_TRUE(writes.back().in_background) << "synced by the store's thread: the next trigger does not wait for the fsync";
    // And the store has both as the tower does.
    auto rows = w.T().store().LoadRecoveries();
    ASSERT_TRUE(rows);
    for (const auto& id : {a, b}) {
        EXPECT_TRUE(std::any_of(rows->begin(), rows->end(), [&](const store::RecoveryRow& r) { return r.txid == id && r.state == vault::RecoveryState::Broadcast; }));
    }
}

TEST(thief, MempoolChurnCostsOneReplayAndAFullDiskDoesNotDelayTheSweep)
{
    // Finding 8: each transaction leaving the mempool replayed the whole vault history at once (a
    // thief's cheap lever), and a block whose batch could not be stored did not wake the
    // broadcaster.
    Layout l;
    Scripted w(108, l);
    std::vector<Coin> coins;
    for (int i = 0; i < 20; ++i) {
        const Coin c = w.s.TakeCoin();
        coins.push_back(c);
        MutableTransaction dust = Spend(c.op, Amount{1'000}, w.s.m_vaults[static_cast<size_t>(i % 3)].v.vault.ScriptPubKey());
        dust.vout.push_back({c.value - Amount{2'000}, AnyoneCanSpend()});
        ASSERT_FALSE(w.s.Send(Transaction{dust}));
    }
    w.Settle();
    const auto rebuilds = w.T().engine().stats().rebuilds;
    for (const auto& c : coins) ASSERT_FALSE(w.s.Send(Transaction{Spend(c.op, c.value - Amount{30'000}, AnyoneCanSpend())}));
    w.Settle();
    EXPECT_LE(w.T().engine().stats().rebuilds - rebuilds, 2u) << "20 removals, one replay";
    // The disk fills: the trigger's block cannot be stored, the sweep goes out all the same.
    w.T().store().SetFull(true);
    w.s.ThiefTriggers(0, /*mine_it=*/true);
    w.Settle();
    EXPECT_GT(w.T().follower().status().store_failures, 0u);
    const auto sweeps = w.Sweeping({w.s.m_trigs.back().tx.GetTxid(), 0});
    ASSERT_EQ(sweeps.size(), 1u);
    EXPECT_TRUE(w.s.InMempool(sweeps.front().txid)) << w.s.Recoveries();
    w.T().store().SetFull(false);
    w.s.Mine(1);
    w.Settle();
    EXPECT_TRUE(w.SweptOnChain({w.s.m_trigs.back().tx.GetTxid(), 0})) << w.s.Recoveries();
}

TEST(thief, AuthorizedSweepsCarryNoAnchorAndRelayWhereTheAnchorIsNonStandard)
{
    // Finding 10: every recovery carried the OP_2 anchor, authorized ones too; the OP_VAULT node
    // without -acceptnonstdtxn refuses it ("scriptpubkey") and the same refused sweep was rebuilt
    // every block. Only the unauthorized form needs the anchor (and relays only with the flag).
    Layout l;
    Scripted w(110, l);
    w.T().sim().SetPolicyHook([](const Transaction& tx) -> std::optional<std::string> {
        for (const auto& o : tx.vout()) {
            if (o.script_pubkey == Bytes{0x52}) return std::string("scriptpubkey");
        }
        return std::nullopt;
    });
    const size_t authorized = w.s.m_vaults.size() - 1;
    w.s.ThiefTriggers(authorized, /*mine_it=*/true);
    w.Settle();
    const OutPoint out{w.s.m_trigs.back().tx.GetTxid(), 0};
    const auto sweeps = w.Sweeping(out);
    ASSERT_EQ(sweeps.size(), 1u);
    EXPECT_EQ(sweeps.front().kind, vault::PlanKind::OpVaultAuthorized);
    auto tx = DecodeTransaction(sweeps.front().tx);
    for (const auto& o : tx->vout()) EXPECT_NE(o.script_pubkey, Bytes{0x52}) << "an authorized sweep has no anchor";
    w.s.Mine(1);
    w.Settle();
    EXPECT_TRUE(w.SweptOnChain(out)) << w.s.Recoveries();
    // The unauthorized form needs the anchor: refused here, and said so.
    w.s.ThiefTriggers(0, /*mine_it=*/true);
    w.Settle();
    const auto refused = w.Sweeping({w.s.m_trigs.back().tx.GetTxid(), 0});
    ASSERT_FALSE(refused.empty());
    EXPECT_EQ(refused.front().state, vault::RecoveryState::Failed);
    EXPECT_NE(refused.front().last_error.find("scriptpubkey"), std::string::npos);
}

TEST(thief, AVaultTheTowerCannotRecoverSaysSoAndItsTriggerIsTheLoudestAlert)
{
    // Finding 11: an authorized-leaf vault registered without its recovery_auth key was accepted
    // in silence, and on a theft the engine only logged that it could not plan.
    Layout l;
    Scripted w(111, l);
    auto tv = MakeAuthorizedTestOpVault(TestKey(0x11).PubKey(), TestKey(0x60).PubKey(), P2TR(0x7b), 20, 0x61);
    json::object reg = json::parse(tv.registration).as_object();
    reg.erase("recovery_auth");
    auto r = w.T().engine().RegisterVault(reg);
    ASSERT_TRUE(r);
    EXPECT_EQ(r->at("protection").at("recovers"), false) << json::serialize(*r);
    EXPECT_FALSE(r->at("protection").at("warnings").as_array().empty());
    // Fund it and trigger it.
    const Coin c = w.s.TakeCoin();
    MutableTransaction dep = Spend(c.op, Amount{5'000'000}, tv.vault.ScriptPubKey());
    dep.vout.push_back({c.value - Amount{5'000'000} - Amount{2'000}, AnyoneCanSpend()});
    ASSERT_FALSE(w.s.Send(Transaction{dep}));
    w.s.Mine(1);
    w.Settle();
    vault::TriggerRequest tr;
    tr.deposit = {Transaction{dep}.GetTxid(), 0};
    tr.deposit_value = Amount{5'000'000};
    tr.ctv_hash = ctv::TemplateHash(vault::WithdrawalTemplate(20, Amount{4'995'000}, P2TR(0xee)), 0);
    auto trig = vault::BuildTrigger(tv.vault, tr, TestKey(0x60));
    ASSERT_TRUE(trig);
    json::array txs;
    txs.emplace_back(HexStr(SerializeTransaction(*trig)));
    w.T().Call("generateblock", {AnyoneCanSpendAddress(), txs});
    w.Settle();
    const auto failed = w.Events("recovery.failed");
    ASSERT_FALSE(failed.empty());
    EXPECT_NE(failed.back().data.find("cannot plan a recovery"), std::string::npos) << failed.back().data;
}

TEST(thief, ABroadcastConfirmedWhileTheNodeAnswersIsStillAnnounced)
{
    // Finding 12: the broadcaster read the recovery's state after sendrawtransaction returned; a
    // block confirming it in between made it skip recovery.broadcast.
    Layout l;
    Scripted w(112, l);
    w.T().AfterNextSend([&] { w.T().sim().Generate(1, AnyoneCanSpendAddress()); });
    w.s.ThiefTriggers(0, /*mine_it=*/true);
    w.Settle();
    const auto sweeps = w.Sweeping({w.s.m_trigs.back().tx.GetTxid(), 0});
    ASSERT_EQ(sweeps.size(), 1u);
    EXPECT_EQ(sweeps.front().state, vault::RecoveryState::Confirmed);
    bool announced = false;
    for (const auto& e : w.Events("recovery.broadcast")) announced = announced || e.txid == sweeps.front().txid.ToString();
    EXPECT_TRUE(announced) << "recovery.planned, then recovery.confirmed, and nothing between";
}

uint64_t EnvU64(const char* name, uint64_t def)
{
    const char* v = std::getenv(name);
    return v && *v ? std::strtoull(v, nullptr, 10) : def;
}

TEST(adversary, SeededSchedulesKeepTheInvariant)
{
    const uint64_t first = EnvU64("VW_ADVERSARY_FIRST", 1);
    uint64_t n = EnvU64("VW_ADVERSARY_SCHEDULES", 12);
    uint64_t only = EnvU64("VW_ADVERSARY_SEED", 0);
    if (only) n = 1;
    size_t failures = 0;
    for (uint64_t k = 0; k < n; ++k) {
        const uint64_t seed = only ? only : first + k;
        std::string log;
        std::string f;
        {
            Schedule s(seed, &log);
            f = s.Run();
        }
        if (!f.empty()) {
            ++failures;
            ADD_FAILURE() << "schedule " << seed << " broke the invariant: " << f << "\nreplay: VW_ADVERSARY_SEED=" << seed
                          << " ./build/tests/daemon/vw_daemon_tests --gtest_filter='adversary.*'\n"
                          << log;
            if (failures >= 3) break;
        }
        std::filesystem::remove_all(TempDir(std::to_string(seed)));
    }
    std::cout << "adversary: " << n << " schedule(s), " << failures << " broke the invariant\n";
}

} // namespace
} // namespace vw::test
#endif // VW_HAVE_SIM
