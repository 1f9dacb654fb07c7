#pragma once
// The recovery rows the engine holds in memory (as stored), with the two questions each decision
// asks of them answered by lookup instead of a pass over them all: which outpoints the live
// recoveries spend, and which triggers a live or confirmed recovery answers. A pass per decision
// made a mass exit through the mempool quadratic: every trigger's answer walked every earlier one.
//
// The indexes cannot drift from the rows: the only write access to a row is an Edit, which
// re-indexes the row when it ends. CheckIndexes recomputes them from scratch (the engine runs it
// once per block, and heals what it finds).

#include "primitives/transaction.h"
#include "store/store.h"

#include <map>
#include <set>
#include <vector>

namespace vw::store {

class RecoveryBook
{
public:
    using Rows = std::map<Txid, RecoveryRow>;
    using const_iterator = Rows::const_iterator;

    //! Write access to one row; the row is re-indexed when this ends (keep it short: no awaits).
    //! Its txid, transaction and trigger are what it was stored with: only its state and
    //! bookkeeping change.
    class Edit
    {
    public:
        Edit(RecoveryBook& book, RecoveryRow& row) : m_book(&book), m_row(&row) {}
        Edit(const Edit&) = delete;
        Edit& operator=(const Edit&) = delete;
        ~Edit() { m_book->Reindex(*m_row); }
        RecoveryRow& operator*() const { return *m_row; }
        RecoveryRow* operator->() const { return m_row; }

    private:
        RecoveryBook* m_book;
        RecoveryRow* m_row;
    };

    const Rows& rows() const { return m_rows; }
    const_iterator begin() const { return m_rows.begin(); }
    const_iterator end() const { return m_rows.end(); }
    const_iterator find(const Txid& txid) const { return m_rows.find(txid); }
    bool contains(const Txid& txid) const { return m_rows.contains(txid); }
    const RecoveryRow& at(const Txid& txid) const { return m_rows.at(txid); }
    size_t size() const { return m_rows.size(); }
    bool empty() const { return m_rows.empty(); }

    //! Replaces every row (a load from the store).
    void Reset(std::vector<RecoveryRow> rows);
    //! Adds a row under its txid. Returns: false (nothing changed) when that txid is already in.
    bool Insert(RecoveryRow row);
    //! The row of txid for writing (it must be in the book).
    Edit Change(const Txid& txid);

    //! The outpoints the recovery spends, decoded from its transaction once (a txid fixes them).
    //! A row whose transaction does not decode spends nothing (rows are checked when loaded).
    const std::vector<OutPoint>& InputsOf(const Txid& txid) const;
    //! Whether a live recovery spends o.
    bool LiveSpends(const OutPoint& o) const { return m_live_spends.contains(o); }
    //! The live recoveries spending o.
    std::vector<Txid> LiveSpenders(const OutPoint& o) const;
    //! The rows no node has accepted yet (Planned), in txid order: what the broadcaster sends at
    //! a wake-up. A list, so that a wake-up costs what it sends, not a pass over every row (in a
    //! mass exit through the mempool each trigger's answer wakes it).
    const std::set<Txid>& Unsent() const { return m_unsent; }
    //! Whether a live or confirmed recovery names trigger as the one it answers.
    bool Answers(const Txid& trigger) const { return m_answers.contains(trigger); }
    //! Recomputes the indexes from the rows. Returns: whether they already agreed (if not, they do
    //! now).
    bool CheckIndexes();
    //! Counts the times a row stopped answering a trigger or spending outputs (it died, or the
    //! book was reset or corrected): a trigger found answered before may be unanswered now.
    uint64_t losses() const { return m_losses; }

private:
    //! What a row adds to the indexes, as last indexed.
    struct Indexed {
        bool live{false};
        Txid answers; //!< null: none
    };
    void Reindex(const RecoveryRow& row);
    void Unindex(const Txid& txid, const Indexed& was);
    static Indexed Contribution(const RecoveryRow& row);

    Rows m_rows;
    std::map<Txid, Indexed> m_indexed;
    // Ordered, not hashed: a thief picks his triggers' txids, and could grind them into one bucket.
    std::multimap<OutPoint, Txid> m_live_spends;
    std::map<Txid, int> m_answers; //!< trigger -> how many rows answer it
    std::set<Txid> m_unsent;
    mutable std::map<Txid, std::vector<OutPoint>> m_inputs;
    uint64_t m_losses{0};
};

} // namespace vw::store
