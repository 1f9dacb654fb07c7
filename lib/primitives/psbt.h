#pragma once
// Partially signed transactions (BIP-174, version 0), as far as a watchtower takes them: a
// pre-signed recovery or emergency transaction handed over as a finalized PSBT is parsed, checked
// against the BIP's rules and extracted (the BIP's Transaction Extractor). vaultwatch never signs
// or updates a PSBT.

#include "primitives/transaction.h"
#include "util/bytes.h"
#include "util/expected.h"

#include <optional>
#include <string>
#include <string_view>
#include <vector>

namespace vw {

struct Psbt {
    struct Input {
        std::optional<Bytes> final_script_sig;
        std::optional<std::vector<Bytes>> final_script_witness;
        std::optional<TxOut> witness_utxo;
        size_t partial_sigs{0};
    };
    MutableTransaction unsigned_tx;
    std::vector<Input> inputs;
    size_t outputs{0};
};

//! Returns: the PSBT of its serialization, or the rule it breaks (BIP-174: magic and separator,
//! the unsigned transaction once and with empty scriptSigs and witnesses, one map per input and
//! output, no duplicate keys, each known key type with its key and value lengths).
Expected<Psbt, std::string> DecodePsbt(ByteSpan raw);
//! Returns: DecodePsbt of the base64 text (as wallets and bitcoin-cli print PSBTs).
Expected<Psbt, std::string> DecodePsbtBase64(std::string_view text);
//! Whether the text looks like a base64 PSBT (it starts with the magic's encoding, "cHNidP8").
bool LooksLikePsbtBase64(std::string_view text);

//! Returns: the network transaction of a PSBT whose every input is finalized (BIP-174 Transaction
//! Extractor), or which input is not.
Expected<Transaction, std::string> ExtractTransaction(const Psbt& psbt);

} // namespace vw
