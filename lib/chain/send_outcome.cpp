#include "chain/send_outcome.h"

#include <array>
#include <utility>

namespace vw::chain {

std::string_view ToString(SendOutcome o)
{
    switch (o) {
    case SendOutcome::Accepted: return "accepted";
    case SendOutcome::InChain: return "in_chain";
    case SendOutcome::FeeTooLow: return "fee_too_low";
    case SendOutcome::Outbid: return "outbid";
    case SendOutcome::InputsGone: return "inputs_gone";
    case SendOutcome::NonStandard: return "non_standard";
    case SendOutcome::Invalid: return "invalid";
    case SendOutcome::Unreachable: return "unreachable";
    }
    return "unknown";
}

SendOutcome ClassifySendError(int code, std::string_view m)
{
    auto starts = [&](std::string_view p) { return m.substr(0, p.size()) == p; };
    auto has = [&](std::string_view p) { return m.find(p) != std::string_view::npos; };
    switch (code) {
    case -28: return SendOutcome::Unreachable; // RPC_IN_WARMUP
    case -27: return SendOutcome::InChain;     // RPC_VERIFY_ALREADY_IN_CHAIN (v25 "Transaction already in block chain", v31 "... in utxo set")
    case -22: return SendOutcome::Invalid;     // RPC_DESERIALIZATION_ERROR
    case -25:                                  // RPC_VERIFY_ERROR: missing inputs; also the client's own max fee check
        if (has("missingorspent") || has("missing-inputs") || has("Missing inputs")) return SendOutcome::InputsGone;
        if (has("Fee exceeds maximum")) return SendOutcome::NonStandard; // our own node's -maxtxfee: not consensus
        return SendOutcome::Invalid;
    case -26: break;                           // RPC_VERIFY_REJECTED: the reject reason decides
    default: return SendOutcome::Invalid;
    }
    // Replacement rules first: "insufficient fee, rejecting replacement ..." is a conflict, not a floor.
    if (has("rejecting replacement") || starts("txn-mempool-conflict") || has("replacement-adds-unconfirmed") ||
        starts("too many potential replacements") || starts("bip125-replacement-disallowed")) {
        return SendOutcome::Outbid;
    }
    if (starts("txn-already-in-mempool")) return SendOutcome::Accepted;
    if (starts("txn-already-known")) return SendOutcome::InChain; // every output already confirmed
    if (starts("min relay fee not met") || starts("mempool min fee not met") || starts("insufficient fee") ||
        starts("mempool full") || starts("min-fee-not-met")) {
        return SendOutcome::FeeTooLow;
    }
    if (starts("bad-txns-inputs-missingorspent") || starts("missing-inputs")) return SendOutcome::InputsGone;
    // Not final yet, or a coinbase not mature: the same transaction may pass at a later block.
    if (starts("bad-txns-nonfinal") || starts("bad-txns-premature") || starts("non-BIP68-final")) return SendOutcome::NonStandard;
    // Consensus: a mandatory script flag, or the transaction's own structure. Never confirms as is.
    if (starts("mandatory-script-verify-flag-failed") || starts("bad-txns-")) return SendOutcome::Invalid;
    // Everything else is policy: scriptpubkey, dust, tx-size, non-mandatory-script-verify-flag,
    // bad-witness-nonstandard, too-long-mempool-chain, version, anchor rules.
    return SendOutcome::NonStandard;
}

} // namespace vw::chain
