#pragma once
// Vaults built from pre-signed transactions (docs/product.md §2.2), which work on mainnet today.
// Registration input is validated here, purely, with operator-facing messages.

#include "primitives/transaction.h"

#include <string>
#include <vector>

namespace vw::vault {

//! What the operator sends to registervault for kind "presigned" (hex still undecoded).
struct PresignedRequest {
    struct Trigger {
        Txid txid;                            //!< the unvault transaction the operator pre-signed
        std::vector<std::string> recovery_txs; //!< raw hex, typically one per feerate
        int spend_delay{0};                   //!< relative timelock (blocks) of the unvault output
    };
    std::vector<OutPoint> watch_outpoints;    //!< the vault UTXOs
    std::vector<Trigger> triggers;
    std::vector<std::string> emergency_txs;   //!< raw hex: pre-signed sweeps of the vault UTXOs
};

struct PresignedTrigger {
    Txid txid;
    int spend_delay{0};
    //! Recovery variants, cheapest first (largest output total = smallest fee, as all variants
    //! spend the same trigger outputs). Escalation climbs this ladder.
    std::vector<Transaction> recovery_txs;
};

struct PresignedVault {
    std::vector<OutPoint> watch_outpoints;
    std::vector<PresignedTrigger> triggers;
    std::vector<Transaction> emergency_txs;
};

//! Largest relative block delay BIP-68 can express.
inline constexpr int MAX_SPEND_DELAY = 0xffff;

//! Returns: the validated vault, or the first problem found, naming the offending item.
//! Checks: at least one watched outpoint, no duplicates; at least one trigger with a distinct
//! txid and 1 <= spend_delay <= 65535, each with at least one recovery tx; every recovery tx
//! decodes, spends at least one output of its trigger, has every input signed (witness or
//! scriptSig), and spends no watched outpoint and no output of another trigger; every
//! emergency tx decodes, spends at least one watched outpoint and has every input signed.
Expected<PresignedVault, std::string> ValidatePresigned(const PresignedRequest& req);

//! Returns: the total of tx's outputs (saturating at MAX_MONEY is not needed: outputs of a
//! decoded tx are bounded by the caller's check).
Amount OutputTotal(const Transaction& tx);

} // namespace vw::vault
