#pragma once
// The vault owner's side of BIP-345: building a signed trigger (unvault) transaction. vaultwatch
// never triggers vaults in production; this exists for the demo, the end-to-end tests against a
// node that enforces OP_VAULT, and the mass-exit benchmark, so that they exercise exactly the
// transactions a wallet (or a thief holding the trigger key) would send.

#include "crypto/secp.h"
#include "primitives/transaction.h"
#include "util/expected.h"
#include "vault/opvault.h"

#include <optional>
#include <string>
#include <vector>

namespace vw::vault {

struct TriggerRequest {
    OutPoint deposit;            //!< the vault UTXO to trigger
    Amount deposit_value;
    size_t trigger_leaf{0};      //!< which trigger leaf (position in Vault::trigger_indices())
    Uint256 ctv_hash;            //!< the withdrawal template (BIP-119 hash, as pushed)
    uint32_t sequence{0xfffffffd};
    //! A wallet's own input paying the trigger's fee (the signature commits to it), its witness as
    //! given (e.g. [OP_TRUE] for an anyone-can-spend coin), and its change output.
    struct FeeInput {
        OutPoint outpoint;
        TxOut prevout;
        std::vector<Bytes> witness;
    };
    std::optional<FeeInput> fee_input;
    std::optional<TxOut> change;
};

//! Returns: the signed trigger: one input (witness [revault amount 0, revault idx -1, trigger idx
//! 0, ctv hash, signature, leaf, control block]), one output (the trigger output, worth the whole
//! deposit — OP_VAULT requires it to carry at least the input's value, so a trigger pays no fee
//! of its own: it relies on a node with a zero relay minimum, as the BIP-345 prototype is run, or
//! on a child/fee input added by the wallet). Signs the trigger leaf's
//! `<pk> OP_CHECKSIGVERIFY` with trigger_key (BIP-341 script path, SIGHASH_DEFAULT).
Expected<MutableTransaction, std::string> BuildTrigger(const Vault& v, const TriggerRequest& r, const crypto::KeyPair& trigger_key);

//! Returns: a withdrawal template for a trigger output: version 2, one input with nSequence =
//! spend_delay, one output (value, spk); its CTV hash (input 0) is what BuildTrigger commits to.
MutableTransaction WithdrawalTemplate(int64_t spend_delay, Amount value, const Bytes& spk);

} // namespace vw::vault
