#pragma once
// What a node's answer to sendrawtransaction / submitpackage means for the tower. bitcoind says
// "no" with a JSON-RPC code and a reject reason (validation.cpp's TxValidationState); the engine
// acts on the class, never on the wording. Pure: tested on the recorded replies of v25 and v31.

#include <string_view>

namespace vw::chain {

enum class SendOutcome {
    Accepted,      //!< in the mempool now (also: it was already there)
    InChain,       //!< -27: already confirmed (its outputs are in the UTXO set)
    FeeTooLow,     //!< below the relay or mempool floor: pay more (CPFP, a bigger fee coin)
    Outbid,        //!< a conflicting mempool tx pays more, or is not replaceable (a pin): outbid or re-plan
    InputsGone,    //!< an input is missing or spent (a conflict confirmed, a parent evicted): re-plan
    NonStandard,   //!< policy refuses its shape (scriptpubkey, dust, size): another node or shape
    Invalid,       //!< consensus or decoding failure: this transaction can never confirm
    Unreachable,   //!< transport failure, or the node is warming up (-28): retry the same tx
};
std::string_view ToString(SendOutcome o);

//! Classifies a JSON-RPC error of sendrawtransaction (code, message). Unknown -26 rejects count as
//! NonStandard (policy), unknown codes as Invalid.
SendOutcome ClassifySendError(int code, std::string_view message);

//! Whether the class can change without a new transaction (retry the same one later).
inline bool IsTransient(SendOutcome o) { return o == SendOutcome::Unreachable; }
//! Whether the recovery reached the node or the chain.
inline bool IsAccepted(SendOutcome o) { return o == SendOutcome::Accepted || o == SendOutcome::InChain; }

} // namespace vw::chain
