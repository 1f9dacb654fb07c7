#include "vault/presigned.h"

#include <algorithm>
#include <set>

namespace vw::vault {

Amount OutputTotal(const Transaction& tx)
{
    Amount sum{0};
    for (const auto& o : tx.vout()) sum += o.value;
    return sum;
}

namespace {
bool AllInputsSigned(const Transaction& tx)
{
    return std::all_of(tx.vin().begin(), tx.vin().end(),
                       [](const TxIn& in) { return !in.witness.empty() || !in.script_sig.empty(); });
}

bool OutputsInMoneyRange(const Transaction& tx)
{
    Amount sum{0};
    for (const auto& o : tx.vout()) {
        auto s = CheckedAdd(sum, o.value);
        if (!s) return false;
        sum = *s;
    }
    return true;
}

std::string OutPointStr(const OutPoint& o) { return o.txid.ToString() + ":" + std::to_string(o.n); }
} // namespace

Expected<PresignedVault, std::string> ValidatePresigned(const PresignedRequest& req)
{
    using E = Unexpected<std::string>;
    PresignedVault v;
    if (req.watch_outpoints.empty()) return E{"watch_outpoints must list at least one vault UTXO"};
    std::set<OutPoint> watched;
    for (const auto& o : req.watch_outpoints) {
        if (!watched.insert(o).second) return E{"watch_outpoints lists " + OutPointStr(o) + " twice"};
    }
    v.watch_outpoints = req.watch_outpoints;
    if (req.triggers.empty()) return E{"triggers must list at least one pre-signed unvault transaction"};
    std::set<Txid> trigger_ids;
    for (const auto& t : req.triggers) {
        if (!trigger_ids.insert(t.txid).second) return E{"trigger " + t.txid.ToString() + " is listed twice"};
    }
    for (size_t ti = 0; ti < req.triggers.size(); ++ti) {
        const auto& t = req.triggers[ti];
        const std::string where = "triggers[" + std::to_string(ti) + "] (" + t.txid.ToString() + ")";
        if (t.spend_delay < 1 || t.spend_delay > MAX_SPEND_DELAY) {
            return E{where + ": spend_delay must be between 1 and " + std::to_string(MAX_SPEND_DELAY) + " blocks"};
        }
        if (t.recovery_txs.empty()) return E{where + ": needs at least one pre-signed recovery transaction"};
        PresignedTrigger pt{t.txid, t.spend_delay, {}};
        for (size_t ri = 0; ri < t.recovery_txs.size(); ++ri) {
            const std::string rwhere = where + ".recovery_txs[" + std::to_string(ri) + "]";
            auto tx = DecodeTransactionHex(t.recovery_txs[ri]);
            if (!tx) return E{rwhere + ": not a valid transaction: " + std::string{ToString(tx.error())}};
            if (!OutputsInMoneyRange(*tx)) return E{rwhere + ": output values out of range"};
            bool spends_trigger = false;
            for (const auto& in : tx->vin()) {
                if (in.prevout.txid == t.txid) spends_trigger = true;
                if (watched.count(in.prevout)) {
                    return E{rwhere + ": spends the vault UTXO " + OutPointStr(in.prevout) +
                             " directly; that is an emergency transaction, not a recovery of this trigger"};
                }
                if (in.prevout.txid != t.txid && trigger_ids.count(in.prevout.txid)) {
                    return E{rwhere + ": spends an output of another trigger (" + in.prevout.txid.ToString() + ")"};
                }
            }
            if (!spends_trigger) return E{rwhere + ": spends no output of trigger " + t.txid.ToString()};
            if (!AllInputsSigned(*tx)) return E{rwhere + ": has an unsigned input; recovery transactions must be fully signed"};
            pt.recovery_txs.push_back(std::move(*tx));
        }
        std::stable_sort(pt.recovery_txs.begin(), pt.recovery_txs.end(),
                         [](const Transaction& a, const Transaction& b) { return OutputTotal(a) > OutputTotal(b); });
        v.triggers.push_back(std::move(pt));
    }
    for (size_t ei = 0; ei < req.emergency_txs.size(); ++ei) {
        const std::string where = "emergency_txs[" + std::to_string(ei) + "]";
        auto tx = DecodeTransactionHex(req.emergency_txs[ei]);
        if (!tx) return E{where + ": not a valid transaction: " + std::string{ToString(tx.error())}};
        if (!OutputsInMoneyRange(*tx)) return E{where + ": output values out of range"};
        const bool sweeps = std::any_of(tx->vin().begin(), tx->vin().end(),
                                        [&](const TxIn& in) { return watched.count(in.prevout) > 0; });
        if (!sweeps) return E{where + ": spends none of the watched vault UTXOs"};
        if (!AllInputsSigned(*tx)) return E{where + ": has an unsigned input"};
        v.emergency_txs.push_back(std::move(*tx));
    }
    return v;
}

} // namespace vw::vault
