#include "store/recovery_book.h"

#include "vault/lifecycle.h"

#include <algorithm>

namespace vw::store {

RecoveryBook::Indexed RecoveryBook::Contribution(const RecoveryRow& row)
{
    Indexed c;
    c.live = vault::IsLive(row.state);
    if ((c.live || row.state == vault::RecoveryState::Confirmed) && !row.trigger_txid.IsNull()) c.answers = row.trigger_txid;
    return c;
}

void RecoveryBook::Unindex(const Txid& txid, const Indexed& was)
{
    if (was.live || !was.answers.IsNull()) ++m_losses;
    if (was.live) {
        for (const auto& o : InputsOf(txid)) {
            auto r = m_live_spends.equal_range(o);
            for (auto k = r.first; k != r.second; ++k) {
                if (k->second == txid) {
                    m_live_spends.erase(k);
                    break;
                }
            }
        }
    }
    if (!was.answers.IsNull()) {
        if (auto a = m_answers.find(was.answers); a != m_answers.end() && --a->second <= 0) m_answers.erase(a);
    }
}

void RecoveryBook::Reindex(const RecoveryRow& row)
{
    // Not part of what a row contributes: Planned -> Broadcast loses nothing a decision asks.
    if (row.state == vault::RecoveryState::Planned) m_unsent.insert(row.txid);
    else m_unsent.erase(row.txid);
    const Indexed now = Contribution(row);
    auto [it, fresh] = m_indexed.try_emplace(row.txid);
    if (!fresh) {
        if (it->second.live == now.live && it->second.answers == now.answers) return;
        Unindex(row.txid, it->second);
    }
    if (now.live) {
        for (const auto& o : InputsOf(row.txid)) m_live_spends.emplace(o, row.txid);
    }
    if (!now.answers.IsNull()) ++m_answers[now.answers];
    it->second = now;
}

void RecoveryBook::Reset(std::vector<RecoveryRow> rows)
{
    m_rows.clear();
    m_indexed.clear();
    m_live_spends.clear();
    m_answers.clear();
    m_unsent.clear();
    m_inputs.clear();
    ++m_losses;
    for (auto& r : rows) Insert(std::move(r));
}

bool RecoveryBook::Insert(RecoveryRow row)
{
    const Txid txid = row.txid;
    auto [it, fresh] = m_rows.try_emplace(txid, std::move(row));
    if (!fresh) return false;
    Reindex(it->second);
    return true;
}

RecoveryBook::Edit RecoveryBook::Change(const Txid& txid) { return Edit{*this, m_rows.at(txid)}; }

const std::vector<OutPoint>& RecoveryBook::InputsOf(const Txid& txid) const
{
    if (auto it = m_inputs.find(txid); it != m_inputs.end()) return it->second;
    std::vector<OutPoint> ins;
    if (auto r = m_rows.find(txid); r != m_rows.end()) {
        if (auto tx = DecodeTransaction(r->second.tx)) {
            for (const auto& in : tx->vin()) ins.push_back(in.prevout);
        }
    }
    return m_inputs.emplace(txid, std::move(ins)).first->second;
}

std::vector<Txid> RecoveryBook::LiveSpenders(const OutPoint& o) const
{
    std::vector<Txid> out;
    auto r = m_live_spends.equal_range(o);
    for (auto k = r.first; k != r.second; ++k) out.push_back(k->second);
    return out;
}

bool RecoveryBook::CheckIndexes()
{
    std::multimap<OutPoint, Txid> spends;
    std::map<Txid, int> answers;
    std::map<Txid, Indexed> indexed;
    std::set<Txid> unsent;
    for (const auto& [txid, row] : m_rows) {
        if (row.state == vault::RecoveryState::Planned) unsent.insert(txid);
        const Indexed c = Contribution(row);
        if (c.live) {
            for (const auto& o : InputsOf(txid)) spends.emplace(o, txid);
        }
        if (!c.answers.IsNull()) ++answers[c.answers];
        indexed.emplace(txid, c);
    }
    auto sorted = [](const std::multimap<OutPoint, Txid>& m) {
        std::vector<std::pair<OutPoint, Txid>> v(m.begin(), m.end());
        std::sort(v.begin(), v.end());
        return v;
    };
    const bool agree = sorted(spends) == sorted(m_live_spends) && answers == m_answers && unsent == m_unsent &&
                       std::equal(indexed.begin(), indexed.end(), m_indexed.begin(), m_indexed.end(), [](const auto& a, const auto& b) {
                           return a.first == b.first && a.second.live == b.second.live && a.second.answers == b.second.answers;
                       });
    if (!agree) {
        ++m_losses;
        m_live_spends = std::move(spends);
        m_answers = std::move(answers);
        m_unsent = std::move(unsent);
        m_indexed = std::move(indexed);
    }
    return agree;
}

} // namespace vw::store
