#include "node.h"

#include "ccv_interp.h"
#include "crypto/sha256.h"
#include "sim_json.h"
#include "util/hex.h"

#include <algorithm>
#include <set>
#include <stdexcept>
#include <unordered_set>

namespace vw::sim {

namespace {

constexpr uint32_t REGTEST_BITS = 0x207fffff;
constexpr int COINBASE_MATURITY = 100;
constexpr int64_t MIN_RELAY_SAT_PER_KVB = 100;    // -minrelaytxfee default (0.1 sat/vB) in v29+
constexpr int64_t INCREMENTAL_SAT_PER_KVB = 100;  // -incrementalrelayfee default
constexpr int MEMPOOL_HEIGHT = 0x7fffffff;
constexpr size_t MAX_BLOCK_WEIGHT = 4'000'000;
constexpr size_t TEMPLATE_MAX_WEIGHT = 3'996'000;  // leaves room for the coinbase, as -blockmaxweight default

int64_t FeeFor(int64_t sat_per_kvb, size_t vsize)
{
    // CFeeRate::GetFee rounds up (EvaluateFeeUp).
    const int64_t n = sat_per_kvb * static_cast<int64_t>(vsize);
    return (n + 999) / 1000;
}

bool CheckProofOfWork(const BlockHash& h)
{
    // target = 0x7fffff << 8*29; compare as 256-bit little-endian numbers.
    const auto& b = h.ToUint256().bytes;
    std::array<uint8_t, 32> t{};
    t[31] = 0x7f;
    t[30] = 0xff;
    t[29] = 0xff;
    for (int i = 31; i >= 0; --i) {
        const auto idx = static_cast<size_t>(i);
        if (b[idx] != t[idx]) return b[idx] < t[idx];
    }
    return true;
}

Bytes ScriptNumPush(int64_t n)
{
    // CScript() << n
    if (n == 0) return {0x00};
    if (n == -1 || (n >= 1 && n <= 16)) return {static_cast<uint8_t>(n == -1 ? 0x4f : 0x50 + n)};
    Bytes v;
    const bool neg = n < 0;
    uint64_t a = neg ? static_cast<uint64_t>(-n) : static_cast<uint64_t>(n);
    while (a) {
        v.push_back(static_cast<uint8_t>(a & 0xff));
        a >>= 8;
    }
    if (v.back() & 0x80) v.push_back(neg ? 0x80 : 0x00);
    else if (neg) v.back() |= 0x80;
    Bytes out{static_cast<uint8_t>(v.size())};
    out.insert(out.end(), v.begin(), v.end());
    return out;
}

bool IsUnspendable(const Bytes& spk) { return (!spk.empty() && spk[0] == 0x6a) || spk.size() > 10000; }

size_t StrippedBlockSize(const Block& b)
{
    size_t n = BlockHeader::SIZE + CompactSizeLen(b.txs.size());
    for (const auto& tx : b.txs) n += tx.BaseSize();
    return n;
}

} // namespace

Node::Node(NotificationSink& sink, std::function<int64_t()> clock) : m_sink(sink), m_clock(std::move(clock)) {}

Amount Node::Subsidy(int height)
{
    const int halvings = height / 150;  // regtest nSubsidyHalvingInterval
    if (halvings >= 64) return Amount{0};
    return Amount{(50 * COIN.sats()) >> halvings};
}

void Node::Init()
{
    MutableTransaction cb;
    cb.version = 1;
    TxIn in;
    in.prevout.txid = Txid{};
    in.prevout.n = 0xffffffff;
    in.script_sig = *ParseHex("04ffff001d0104455468652054696d65732030332f4a616e2f32303039204368616e63656c6c6f72206f6e206272696e6b206f66207365636f6e64206261696c6f757420666f722062616e6b73");
    in.sequence = 0xffffffff;
    cb.vin.push_back(in);
    cb.vout.push_back(TxOut{Amount{50 * COIN.sats()}, *ParseHex("4104678afdb0fe5548271967f1a67130b7105cd6a828e03909a67962e0ea1f61deb649f6bc3f4cef38c4f35504e51ec112de5c384df7ba0b8d578a4c702b6bf11d5fac")});
    Block genesis;
    genesis.txs.emplace_back(cb);
    genesis.header.version = 1;
    genesis.header.merkle_root = BlockMerkleRoot(genesis);
    genesis.header.time = 1296688602;
    genesis.header.bits = REGTEST_BITS;
    genesis.header.nonce = 2;
    if (genesis.header.GetHash().ToString() != "0f9188f13cb7b2c71f2a335e3a4fc328bf5beb436012afca590b1a11466e2206") {
        throw std::logic_error("regtest genesis hash mismatch");
    }
    SubmitBlock(std::move(genesis), /*activate=*/true);
}

// ---- chain queries -----------------------------------------------------------------------------

const BlockIndex* Node::AtHeight(int h) const
{
    if (h < 0 || h > Height()) return nullptr;
    return m_chain[static_cast<size_t>(h)];
}

const BlockIndex* Node::Lookup(const BlockHash& h) const
{
    auto it = m_index.find(h);
    return it == m_index.end() ? nullptr : it->second.get();
}

BlockIndex* Node::LookupMutable(const BlockHash& h)
{
    auto it = m_index.find(h);
    return it == m_index.end() ? nullptr : it->second.get();
}

bool Node::InActiveChain(const BlockIndex* idx) const
{
    return idx && idx->height <= Height() && m_chain[static_cast<size_t>(idx->height)] == idx;
}

const BlockIndex* Node::Next(const BlockIndex* idx) const
{
    if (!InActiveChain(idx) || idx->height == Height()) return nullptr;
    return m_chain[static_cast<size_t>(idx->height + 1)];
}

int64_t Node::MedianTimePast(const BlockIndex* idx) const
{
    std::vector<int64_t> times;
    for (int i = 0; i < 11 && idx; ++i, idx = idx->prev) times.push_back(idx->header.time);
    if (times.empty()) return 0;
    std::sort(times.begin(), times.end());
    return times[times.size() / 2];
}

bool Node::InitialBlockDownload() const
{
    if (m_ibd_latched_off) return false;
    const BlockIndex* tip = Tip();
    if (tip && static_cast<int64_t>(tip->header.time) >= m_clock() - 24 * 60 * 60) {
        m_ibd_latched_off = true;
        return false;
    }
    return true;
}

std::vector<const BlockIndex*> Node::AllBlocks() const
{
    std::vector<const BlockIndex*> out;
    for (const auto& [h, idx] : m_index) out.push_back(idx.get());
    std::sort(out.begin(), out.end(), [](auto* a, auto* b) { return a->seq_id < b->seq_id; });
    return out;
}

bool Node::IsValidChain(const BlockIndex* idx) const
{
    for (; idx; idx = idx->prev) {
        if (idx->failed) return false;
        if (InActiveChain(idx)) return true;  // the active chain below is valid
    }
    return true;
}

std::optional<Coin> Node::GetUtxo(const OutPoint& o) const
{
    auto it = m_utxo.find(o);
    if (it == m_utxo.end()) return std::nullopt;
    return it->second;
}

bool Node::IsFinalAtTip(const vw::Transaction& tx) const
{
    const int64_t height = Height() + 1;
    const int64_t time = MedianTimePast(Tip());
    const int64_t lt = tx.locktime();
    if (lt == 0) return true;
    if (lt < (lt < 500000000 ? height : time)) return true;
    for (const auto& in : tx.vin()) {
        if (in.sequence != 0xffffffff) return false;
    }
    return true;
}

bool Node::SequenceLocksAtTip(const vw::Transaction& tx, const TxOverlay& overlay) const
{
    std::vector<int> heights;
    for (const auto& in : tx.vin()) {
        auto c = FindCoin(in.prevout, overlay);
        // CheckSequenceLocksAtTip: a coin from the mempool counts at the next block's height.
        heights.push_back(!c ? 0 : c->height == MEMPOOL_HEIGHT ? Height() + 1 : c->height);
    }
    ccv_interp::SequenceLockContext ctx;
    ctx.next_height = Height() + 1;
    ctx.tip_mtp = MedianTimePast(Tip());
    ctx.mtp_at = [this](int h) { return MedianTimePast(AtHeight(h)); };
    return ccv_interp::SequenceLocksSatisfied(tx, heights, ctx);
}

// ---- mempool queries ---------------------------------------------------------------------------

const MempoolEntry* Node::GetMempool(const Txid& t) const
{
    auto it = m_pool.find(t);
    return it == m_pool.end() ? nullptr : &it->second;
}

std::vector<const MempoolEntry*> Node::MempoolInOrder() const
{
    std::vector<const MempoolEntry*> out;
    for (const auto& [t, e] : m_pool) out.push_back(&e);
    std::sort(out.begin(), out.end(), [](auto* a, auto* b) { return a->order < b->order; });
    return out;
}

std::optional<Txid> Node::MempoolSpender(const OutPoint& o) const
{
    auto it = m_spenders.find(o);
    if (it == m_spenders.end()) return std::nullopt;
    return it->second;
}

std::vector<Txid> Node::MempoolParents(const MempoolEntry& e) const
{
    std::vector<Txid> out;
    for (const auto& in : e.tx.vin()) {
        if (m_pool.count(in.prevout.txid) && std::find(out.begin(), out.end(), in.prevout.txid) == out.end()) out.push_back(in.prevout.txid);
    }
    return out;
}

std::vector<Txid> Node::MempoolChildren(const MempoolEntry& e) const
{
    std::vector<Txid> out;
    for (uint32_t n = 0; n < e.tx.vout().size(); ++n) {
        auto s = MempoolSpender(OutPoint{e.tx.GetTxid(), n});
        if (s && std::find(out.begin(), out.end(), *s) == out.end()) out.push_back(*s);
    }
    return out;
}

std::vector<Txid> Node::MempoolAncestors(const Txid& t) const
{
    std::vector<Txid> out;
    std::vector<Txid> todo{t};
    while (!todo.empty()) {
        Txid cur = todo.back();
        todo.pop_back();
        const auto* e = GetMempool(cur);
        if (!e) continue;
        for (const auto& p : MempoolParents(*e)) {
            if (std::find(out.begin(), out.end(), p) == out.end()) {
                out.push_back(p);
                todo.push_back(p);
            }
        }
    }
    return out;
}

std::vector<Txid> Node::MempoolDescendants(const Txid& t) const
{
    // Breadth-first, so parents come before their children.
    std::vector<Txid> out;
    std::vector<Txid> queue{t};
    for (size_t i = 0; i < queue.size(); ++i) {
        const auto* e = GetMempool(queue[i]);
        if (!e) continue;
        for (const auto& c : MempoolChildren(*e)) {
            if (c != t && std::find(out.begin(), out.end(), c) == out.end()) {
                out.push_back(c);
                queue.push_back(c);
            }
        }
    }
    return out;
}

// ---- mempool validation ------------------------------------------------------------------------

std::optional<Coin> Node::FindCoin(const OutPoint& o, const TxOverlay& overlay) const
{
    if (auto c = GetUtxo(o)) return c;
    if (const auto* e = GetMempool(o.txid)) {
        if (o.n < e->tx.vout().size()) return Coin{e->tx.vout()[o.n], MEMPOOL_HEIGHT, false};
        return std::nullopt;
    }
    for (const auto* tx : overlay) {
        if (tx->GetTxid() == o.txid && o.n < tx->vout().size()) return Coin{tx->vout()[o.n], MEMPOOL_HEIGHT, false};
    }
    return std::nullopt;
}

AcceptResult Node::CheckTx(const vw::Transaction& tx, const TxOverlay& overlay, bool check_fee) const
{
    AcceptResult r;
    r.vsize = tx.VSize();
    auto reject = [&](std::string reason, std::string debug = {}, int code = -26) {
        r.ok = false;
        r.reason = std::move(reason);
        r.debug = std::move(debug);
        r.rpc_code = code;
        return r;
    };
    // CheckTransaction
    if (tx.vin().empty()) return reject("bad-txns-vin-empty");
    if (tx.vout().empty()) return reject("bad-txns-vout-empty");
    Amount out_total{0};
    for (const auto& o : tx.vout()) {
        if (o.value < Amount{0}) return reject("bad-txns-vout-negative");
        if (o.value > MAX_MONEY) return reject("bad-txns-vout-toolarge");
        out_total += o.value;
        if (!MoneyRange(out_total)) return reject("bad-txns-txouttotal-toolarge");
    }
    {
        std::set<OutPoint> seen;
        for (const auto& in : tx.vin()) {
            if (!seen.insert(in.prevout).second) return reject("bad-txns-inputs-duplicate");
        }
    }
    if (tx.IsCoinBase()) return reject("coinbase");
    if (!IsFinalAtTip(tx)) return reject("non-final");
    if (const auto* e = GetMempool(tx.GetTxid())) {
        if (e->tx.GetWtxid() == tx.GetWtxid()) return reject("txn-already-in-mempool");
        return reject("txn-same-nonwitness-data-in-mempool");
    }
    // Conflicts with mempool transactions.
    std::vector<Txid> direct;
    for (const auto& in : tx.vin()) {
        if (auto s = MempoolSpender(in.prevout); s && std::find(direct.begin(), direct.end(), *s) == direct.end()) direct.push_back(*s);
    }
    // Inputs: all present (PreChecks), then BIP-68, then CheckTxInputs.
    Amount in_total{0};
    std::vector<Coin> coins;
    for (const auto& in : tx.vin()) {
        auto coin = FindCoin(in.prevout, overlay);
        if (!coin) {
            bool all_outputs_known = true;
            for (uint32_t n = 0; n < tx.vout().size(); ++n) {
                if (!GetUtxo(OutPoint{tx.GetTxid(), n})) all_outputs_known = false;
            }
            if (all_outputs_known) return reject("txn-already-known");
            r.missing_inputs = true;
            return reject("bad-txns-inputs-missingorspent", {}, -25);
        }
        coins.push_back(*coin);
    }
    if (m_rules.bip68 && !SequenceLocksAtTip(tx, overlay)) return reject("non-BIP68-final");
    for (const auto& coin : coins) {
        if (coin.coinbase && Height() + 1 - coin.height < COINBASE_MATURITY) {
            return reject("bad-txns-premature-spend-of-coinbase", "tried to spend coinbase at depth " + std::to_string(Height() + 1 - coin.height));
        }
        in_total += coin.out.value;
    }
    if (in_total < out_total) {
        return reject("bad-txns-in-belowout", "value in (" + FormatMoney(in_total.sats()) + ") < value out (" + FormatMoney(out_total.sats()) + ")");
    }
    r.fee = in_total - out_total;
    if (check_fee) {
        const int64_t need = FeeFor(MIN_RELAY_SAT_PER_KVB, r.vsize);
        if (r.fee.sats() < need) return reject("min relay fee not met", std::to_string(r.fee.sats()) + " < " + std::to_string(need));
    }
    // Replacement (full RBF, the default since v28).
    if (!direct.empty()) {
        std::vector<Txid> all;
        for (const auto& d : direct) {
            if (std::find(all.begin(), all.end(), d) == all.end()) all.push_back(d);
            for (const auto& x : MempoolDescendants(d)) {
                if (std::find(all.begin(), all.end(), x) == all.end()) all.push_back(x);
            }
        }
        for (const auto& in : tx.vin()) {
            if (std::find(all.begin(), all.end(), in.prevout.txid) != all.end()) {
                return reject("bad-txns-spends-conflicting-tx", tx.GetTxid().ToString() + " spends conflicting transaction " + in.prevout.txid.ToString());
            }
        }
        Amount conflict_fees{0};
        for (const auto& c : all) conflict_fees += GetMempool(c)->fee;
        const std::string id = tx.GetTxid().ToString();
        if (r.fee < conflict_fees) {
            return reject("insufficient fee", "rejecting replacement " + id + ", less fees than conflicting txs; " + FormatMoney(r.fee.sats()) + " < " + FormatMoney(conflict_fees.sats()));
        }
        const int64_t extra = (r.fee - conflict_fees).sats();
        const int64_t relay = FeeFor(INCREMENTAL_SAT_PER_KVB, r.vsize);
        if (extra < relay) {
            return reject("insufficient fee", "rejecting replacement " + id + ", not enough additional fees to relay; " + FormatMoney(extra) + " < " + FormatMoney(relay));
        }
        r.conflicts = std::move(all);
    }
    // Script checks (PolicyScriptChecks), as far as ScriptRules model them; a test hook may reject
    // instead.
    if (m_rules.ccv || m_rules.discourage_op_success) {
        std::vector<TxOut> spent;
        for (const auto& c : coins) spent.push_back(c.out);
        if (m_rules.ccv) {
            // The CCV node (Inquisition 28 base): its labels, and no debug part in the message.
            const auto v = ccv_interp::VerifyTx(tx, spent, ccv_interp::Flags::Policy());
            if (!v.ok()) return reject(v.RejectReason());
        } else if (auto i = ccv_interp::FirstOpSuccessSpend(tx, spent)) {
            return reject(std::string{ccv_interp::kV31OpSuccessReason}, ccv_interp::V31ScriptDebug(tx, *i));
        }
    }
    if (m_hook) {
        if (auto why = m_hook(tx)) return reject(*why);
    }
    r.ok = true;
    r.rpc_code = 0;
    return r;
}

AcceptResult Node::AcceptToMempool(const vw::Transaction& tx, bool check_fee)
{
    AcceptResult r = CheckTx(tx, {}, check_fee);
    if (!r.ok) return r;
    for (const auto& c : r.conflicts) {
        if (m_pool.count(c)) RemoveEntry(c, /*signal=*/true);
    }
    AddEntry(tx, r.fee);
    return r;
}

void Node::AddEntry(const vw::Transaction& tx, Amount fee)
{
    MempoolEntry e{tx, fee, m_clock(), Height(), m_order++};
    const Txid id = tx.GetTxid();
    for (const auto& in : tx.vin()) m_spenders[in.prevout] = id;
    m_pool.emplace(id, std::move(e));
    m_sink.Transaction(tx);
    m_sink.MempoolAdded(id, m_mempool_seq++);
}

void Node::RemoveEntry(const Txid& txid, bool signal)
{
    auto it = m_pool.find(txid);
    if (it == m_pool.end()) return;
    for (const auto& in : it->second.tx.vin()) {
        auto s = m_spenders.find(in.prevout);
        if (s != m_spenders.end() && s->second == txid) m_spenders.erase(s);
    }
    m_pool.erase(it);
    const uint64_t seq = m_mempool_seq++;
    if (signal) m_sink.MempoolRemoved(txid, seq);
}

bool Node::Evict(const Txid& t)
{
    if (!GetMempool(t)) return false;
    RemoveRecursive(t);
    return true;
}

void Node::RemoveRecursive(const Txid& txid)
{
    if (!m_pool.count(txid)) return;
    std::vector<Txid> all{txid};
    for (const auto& d : MempoolDescendants(txid)) all.push_back(d);
    for (const auto& t : all) RemoveEntry(t, /*signal=*/true);
}

void Node::RemoveForBlock(const std::vector<vw::Transaction>& txs)
{
    for (const auto& tx : txs) {
        if (m_pool.count(tx.GetTxid())) RemoveEntry(tx.GetTxid(), /*signal=*/false);
        if (tx.IsCoinBase()) continue;
        for (const auto& in : tx.vin()) {
            auto s = MempoolSpender(in.prevout);
            if (s && *s != tx.GetTxid()) RemoveRecursive(*s);
        }
    }
}

void Node::RestartMempool(bool keep)
{
    std::vector<const MempoolEntry*> entries = MempoolInOrder();
    std::vector<std::pair<vw::Transaction, Amount>> saved;
    for (const auto* e : entries) saved.emplace_back(e->tx, e->fee);
    m_pool.clear();
    m_spenders.clear();
    m_mempool_seq = 1;
    if (!keep) return;
    for (const auto& [tx, fee] : saved) {
        // LoadMempool: ATMP again, which announces each tx (rawtx/hashtx + A).
        auto r = CheckTx(tx, {}, /*check_fee=*/false);
        if (r.ok) AddEntry(tx, r.fee);
    }
}

// ---- blocks ------------------------------------------------------------------------------------

Node::BuiltBlock Node::BuildBlock(const BlockIndex* parent, const Bytes& spk, const std::optional<std::vector<vw::Transaction>>& explicit_txs) const
{
    BuiltBlock out;
    const int height = parent->height + 1;
    std::vector<vw::Transaction> txs;
    Amount fees{0};
    if (explicit_txs) {
        // generateblock: txs must connect to the UTXO set at the tip (TestBlockValidity).
        if (!explicit_txs->empty() && parent != Tip()) {
            out.error = "parent is not the tip";
            return out;
        }
        std::unordered_map<OutPoint, Coin, OutPointHasher> created;
        std::set<OutPoint> spent;
        for (const auto& tx : *explicit_txs) {
            Amount in{0}, o{0};
            std::vector<TxOut> spent_outs;
            std::vector<int> prev_heights;
            for (const auto& txin : tx.vin()) {
                std::optional<Coin> c;
                if (auto u = GetUtxo(txin.prevout)) c = u;
                else if (auto it = created.find(txin.prevout); it != created.end()) c = it->second;
                if (!c || !spent.insert(txin.prevout).second) {
                    out.error = "TestBlockValidity failed: bad-txns-inputs-missingorspent";
                    return out;
                }
                if (c->coinbase && height - c->height < COINBASE_MATURITY) {
                    out.error = "TestBlockValidity failed: bad-txns-premature-spend-of-coinbase";
                    return out;
                }
                in += c->out.value;
                spent_outs.push_back(c->out);
                prev_heights.push_back(c->height);
            }
            for (const auto& txout : tx.vout()) o += txout.value;
            if (in < o) {
                out.error = "TestBlockValidity failed: bad-txns-in-belowout";
                return out;
            }
            // On a CCV node, ConnectBlock's BIP-68 and script checks (the block flags: consensus,
            // CTV, CCV's amounts; no policy). Blocks of a node without CCV are not checked: there
            // 0xbb is OP_SUCCESS187 (or the OP_VAULT prototype's opcode, not modelled).
            if (m_rules.bip68) {
                ccv_interp::SequenceLockContext ctx;
                ctx.next_height = height;
                ctx.tip_mtp = MedianTimePast(parent);
                ctx.mtp_at = [this](int h) { return MedianTimePast(AtHeight(h)); };
                if (!ccv_interp::SequenceLocksSatisfied(tx, prev_heights, ctx)) {
                    out.error = "TestBlockValidity failed: bad-txns-nonfinal";
                    return out;
                }
            }
            if (m_rules.ccv) {
                const auto v = ccv_interp::VerifyTx(tx, spent_outs, ccv_interp::Flags::Block());
                if (!v.ok()) {
                    out.error = "TestBlockValidity failed: " + v.RejectReason();
                    return out;
                }
            }
            fees += in - o;
            for (uint32_t n = 0; n < tx.vout().size(); ++n) created[OutPoint{tx.GetTxid(), n}] = Coin{tx.vout()[n], height, false};
            txs.push_back(tx);
        }
    } else if (parent == Tip()) {
        // BlockAssembler: greedy by ancestor feerate, parents before children.
        std::vector<const MempoolEntry*> remaining = MempoolInOrder();
        std::unordered_set<Txid, HashIdHasher> included;
        size_t weight = 0;
        while (!remaining.empty()) {
            double best_score = -1;
            std::vector<const MempoolEntry*> best_pkg;
            for (size_t i = 0; i < remaining.size(); ++i) {
                std::vector<const MempoolEntry*> pkg;
                for (const auto& a : MempoolAncestors(remaining[i]->tx.GetTxid())) {
                    if (!included.count(a)) pkg.push_back(GetMempool(a));
                }
                pkg.push_back(remaining[i]);
                int64_t f = 0;
                size_t v = 0;
                for (auto* p : pkg) {
                    f += p->fee.sats();
                    v += p->tx.VSize();
                }
                const double score = static_cast<double>(f) / static_cast<double>(v);
                if (score > best_score) {
                    best_score = score;
                    best_pkg = std::move(pkg);
                }
            }
            // Parents first: by the number of in-mempool ancestors (arrival order is not enough, a
            // parent re-added from a disconnected block arrives after its children).
            std::vector<std::pair<size_t, const MempoolEntry*>> ranked;
            for (auto* p : best_pkg) ranked.emplace_back(MempoolAncestors(p->tx.GetTxid()).size(), p);
            std::sort(ranked.begin(), ranked.end(), [](const auto& a, const auto& b) {
                return a.first != b.first ? a.first < b.first : a.second->order < b.second->order;
            });
            for (size_t k = 0; k < ranked.size(); ++k) best_pkg[k] = ranked[k].second;
            size_t pkg_weight = 0;
            for (auto* p : best_pkg) pkg_weight += p->tx.Weight();
            if (best_score * 1000.0 < static_cast<double>(m_block_min_fee)) break; // the best left is below -blockmintxfee
            if (weight + pkg_weight <= TEMPLATE_MAX_WEIGHT) {
                for (auto* p : best_pkg) {
                    included.insert(p->tx.GetTxid());
                    txs.push_back(p->tx);
                    fees += p->fee;
                }
                weight += pkg_weight;
            } else {
                for (auto* p : best_pkg) included.insert(p->tx.GetTxid());  // skip the package
            }
            std::erase_if(remaining, [&](auto* e) { return included.count(e->tx.GetTxid()) > 0; });
        }
    }

    // Coinbase as Core v31 builds it: version 2, BIP34 height + OP_0, sequence 0xfffffffe,
    // witness reserved value, locktime height-1, witness commitment output.
    MutableTransaction cb;
    cb.version = 2;
    TxIn in;
    in.prevout.txid = Txid{};
    in.prevout.n = 0xffffffff;
    in.script_sig = ScriptNumPush(height);
    in.script_sig.push_back(0x00);
    in.sequence = 0xfffffffe;
    in.witness.push_back(Bytes(32, 0));
    cb.vin.push_back(in);
    cb.vout.push_back(TxOut{Subsidy(height) + fees, spk});
    cb.locktime = static_cast<uint32_t>(height - 1);
    Bytes commitment_spk{0x6a, 0x24, 0xaa, 0x21, 0xa9, 0xed};
    commitment_spk.resize(38, 0);
    cb.vout.push_back(TxOut{Amount{0}, commitment_spk});

    Block block;
    block.txs.emplace_back(cb);
    for (auto& tx : txs) block.txs.push_back(tx);
    Uint256 wroot = BlockWitnessMerkleRoot(block);
    uint8_t buf[64] = {};
    std::copy(wroot.bytes.begin(), wroot.bytes.end(), buf);
    const Uint256 commitment = crypto::Sha256d(ByteSpan{buf, 64});
    std::copy(commitment.bytes.begin(), commitment.bytes.end(), cb.vout[1].script_pubkey.begin() + 6);
    block.txs[0] = vw::Transaction(cb);

    block.header.version = 0x20000000;
    block.header.prev_block = parent->hash;
    block.header.merkle_root = BlockMerkleRoot(block);
    block.header.time = static_cast<uint32_t>(std::max<int64_t>(MedianTimePast(parent) + 1, m_clock()));
    block.header.bits = REGTEST_BITS;
    block.header.nonce = 0;
    while (!CheckProofOfWork(block.header.GetHash())) ++block.header.nonce;
    out.block = std::move(block);
    return out;
}

const BlockIndex* Node::SubmitBlock(Block block, bool activate)
{
    const BlockHash hash = block.header.GetHash();
    if (auto* existing = LookupMutable(hash)) return existing;
    auto idx = std::make_unique<BlockIndex>();
    idx->hash = hash;
    idx->header = block.header;
    idx->prev = block.header.prev_block.IsNull() ? nullptr : LookupMutable(block.header.prev_block);
    idx->height = idx->prev ? idx->prev->height + 1 : 0;
    idx->seq_id = m_next_seq_id++;
    idx->raw = SerializeBlock(block);
    idx->hex = HexStr(idx->raw);
    idx->stripped_size = StrippedBlockSize(block);
    idx->weight = idx->stripped_size * 3 + idx->raw.size();
    idx->block = std::move(block);
    m_size_on_disk += idx->raw.size() + 8;
    BlockIndex* p = idx.get();
    m_index.emplace(hash, std::move(idx));
    if (activate) ActivateBestChain();
    return p;
}

void Node::ConnectTip(BlockIndex* idx, DisconnectPool* pool)
{
    idx->undo.clear();
    idx->tx_fees.assign(idx->block.txs.size(), Amount{0});
    if (idx->height > 0) {  // the genesis coinbase is not spendable and adds no coins
        for (size_t i = 0; i < idx->block.txs.size(); ++i) {
            const auto& tx = idx->block.txs[i];
            Amount in{0}, out{0};
            if (!tx.IsCoinBase()) {
                for (const auto& txin : tx.vin()) {
                    auto it = m_utxo.find(txin.prevout);
                    if (it == m_utxo.end()) throw std::logic_error("ConnectTip: missing input (simulator bug)");
                    in += it->second.out.value;
                    idx->undo.push_back(it->second);
                    m_utxo.erase(it);
                }
            }
            for (uint32_t n = 0; n < tx.vout().size(); ++n) {
                out += tx.vout()[n].value;
                if (!IsUnspendable(tx.vout()[n].script_pubkey)) m_utxo[OutPoint{tx.GetTxid(), n}] = Coin{tx.vout()[n], idx->height, tx.IsCoinBase()};
            }
            if (!tx.IsCoinBase()) idx->tx_fees[i] = in - out;
        }
    }
    idx->have_undo = true;
    m_chain.push_back(idx);
    RemoveForBlock(idx->block.txs);
    if (pool) {
        std::unordered_set<Txid, HashIdHasher> in_block;
        for (const auto& tx : idx->block.txs) in_block.insert(tx.GetTxid());
        std::erase_if(pool->txs, [&](const vw::Transaction& t) { return in_block.count(t.GetTxid()) > 0; });
    }
}

void Node::ForgetTip(int n)
{
    std::unordered_set<const BlockIndex*> gone;
    for (int i = 0; i < n && m_chain.size() > 1; ++i) {
        gone.insert(m_chain.back());
        DisconnectTip(nullptr);
    }
    for (bool more = true; more;) {
        more = false;
        for (const auto& [_, idx] : m_index) {
            if (idx->prev && gone.contains(idx->prev) && gone.insert(idx.get()).second) more = true;
        }
    }
    std::erase_if(m_index, [&](const auto& kv) { return gone.contains(kv.second.get()); });
}

void Node::DisconnectTip(DisconnectPool* pool)
{
    BlockIndex* idx = m_chain.back();
    const auto& txs = idx->block.txs;
    size_t undo_pos = idx->undo.size();
    for (size_t i = txs.size(); i-- > 0;) {
        const auto& tx = txs[i];
        for (uint32_t n = 0; n < tx.vout().size(); ++n) m_utxo.erase(OutPoint{tx.GetTxid(), n});
        if (tx.IsCoinBase()) continue;
        for (size_t j = tx.vin().size(); j-- > 0;) m_utxo[tx.vin()[j].prevout] = idx->undo[--undo_pos];
    }
    m_chain.pop_back();
    // BlockDisconnected: every tx (coinbase included), then D.
    for (const auto& tx : txs) m_sink.Transaction(tx);
    m_sink.BlockDisconnected(idx->hash);
    if (pool) {
        std::vector<vw::Transaction> add;
        for (const auto& tx : txs) {
            if (!tx.IsCoinBase()) add.push_back(tx);
        }
        pool->txs.insert(pool->txs.begin(), add.begin(), add.end());
    }
}

void Node::MaybeUpdateMempoolForReorg(DisconnectPool& pool, bool add)
{
    for (const auto& tx : pool.txs) {
        bool added = false;
        if (add && !m_pool.count(tx.GetTxid())) {
            AcceptResult r = CheckTx(tx, {}, /*check_fee=*/false);  // bypass_limits
            if (r.ok && r.conflicts.empty()) {
                AddEntry(tx, r.fee);
                added = true;
            }
        }
        if (!added) {
            // Orphaned descendants in the mempool go too.
            for (uint32_t n = 0; n < tx.vout().size(); ++n) {
                if (auto s = MempoolSpender(OutPoint{tx.GetTxid(), n})) RemoveRecursive(*s);
            }
        }
    }
    pool.txs.clear();
    // removeForReorg: non-final txs and immature coinbase spends leave with R.
    for (const auto* e : MempoolInOrder()) {
        if (!m_pool.count(e->tx.GetTxid())) continue;
        bool remove = !IsFinalAtTip(e->tx) || (m_rules.bip68 && !SequenceLocksAtTip(e->tx));
        for (const auto& in : e->tx.vin()) {
            auto c = GetUtxo(in.prevout);
            if (c && c->coinbase && Height() + 1 - c->height < COINBASE_MATURITY) remove = true;
        }
        if (remove) RemoveRecursive(e->tx.GetTxid());
    }
}

BlockIndex* Node::FindBestCandidate()
{
    BlockIndex* best = nullptr;
    BlockIndex* tip = m_chain.empty() ? nullptr : m_chain.back();
    for (auto& [h, up] : m_index) {
        BlockIndex* idx = up.get();
        if (best) {
            if (idx->ChainWork() < best->ChainWork()) continue;
            if (idx->ChainWork() == best->ChainWork()) {
                if (best == tip) continue;
                if (idx != tip && idx->seq_id > best->seq_id) continue;
            }
        }
        if (!IsValidChain(idx)) continue;
        best = idx;
    }
    return best;
}

void Node::ActivateBestChain()
{
    for (;;) {
        BlockIndex* best = FindBestCandidate();
        BlockIndex* tip = m_chain.empty() ? nullptr : m_chain.back();
        if (!best || best == tip) return;
        const uint64_t old_work = tip ? tip->ChainWork() : 0;
        // Fork point.
        const BlockIndex* fork = best;
        while (fork && !InActiveChain(fork)) fork = fork->prev;
        DisconnectPool pool;
        bool disconnected = false;
        while (!m_chain.empty() && m_chain.back() != fork) {
            DisconnectTip(&pool);
            disconnected = true;
        }
        std::vector<BlockIndex*> path;
        for (BlockIndex* p = best; p != fork; p = p->prev) path.push_back(p);
        std::reverse(path.begin(), path.end());
        std::vector<BlockIndex*> connected;
        for (BlockIndex* p : path) {
            ConnectTip(p, &pool);
            connected.push_back(p);
            if (p->ChainWork() > old_work) break;  // better than where we started: return to caller
        }
        if (disconnected) MaybeUpdateMempoolForReorg(pool, /*add=*/true);
        // Queued BlockConnected signals fire after the step: txs then C, per block.
        for (BlockIndex* c : connected) {
            for (const auto& tx : c->block.txs) m_sink.Transaction(tx);
            m_sink.BlockConnected(c->hash);
        }
        // UpdatedBlockTip: only outside IBD and only if something new connected.
        if (!connected.empty() && !InitialBlockDownload()) m_sink.TipUpdated(m_chain.back()->hash, m_chain.back()->raw);
    }
}

void Node::InvalidateBlock(BlockIndex* idx)
{
    int disconnected = 0;
    while (InActiveChain(idx)) {
        DisconnectPool pool;
        DisconnectTip(&pool);
        MaybeUpdateMempoolForReorg(pool, ++disconnected <= 10);
    }
    idx->failed = true;
    ActivateBestChain();
}

void Node::ReconsiderBlock(BlockIndex* idx)
{
    for (auto& [h, up] : m_index) {
        for (BlockIndex* p = up.get(); p; p = p->prev) {
            if (p == idx) {
                up->failed = false;  // idx and its descendants
                break;
            }
        }
    }
    for (BlockIndex* p = idx; p; p = p->prev) p->failed = false;
    ActivateBestChain();
}

} // namespace vw::sim
