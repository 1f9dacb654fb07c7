#include "primitives/psbt.h"

#include "util/serialize.h"

#include <openssl/evp.h>

#include <set>

namespace vw {
namespace {

using E = Unexpected<std::string>;
constexpr size_t kMaxPsbtBytes = 4'000'000;

//! One key-value map: (key, value) pairs up to the 0x00 separator.
Expected<std::vector<std::pair<ByteSpan, ByteSpan>>, std::string> ReadMap(SpanReader& r, const std::string& where)
{
    std::vector<std::pair<ByteSpan, ByteSpan>> out;
    std::set<Bytes> seen;
    while (true) {
        auto key = r.ReadVarBytes();
        if (!key) return E{where + ": truncated (a key or the 0x00 separator is missing)"};
        if (key->empty()) return out; // the separator
        auto value = r.ReadVarBytes();
        if (!value) return E{where + ": truncated value"};
        if (!seen.insert(Bytes(key->begin(), key->end())).second) return E{where + ": duplicate key of type " + std::to_string((*key)[0])};
        out.emplace_back(*key, *value);
    }
}

bool PubKeyLen(size_t n) { return n == 33 || n == 65; }

Expected<void, std::string> CheckInput(ByteSpan key, ByteSpan value, const std::string& where, Psbt::Input& in, const TxIn& txin)
{
    const uint8_t type = key[0];
    const size_t klen = key.size();
    auto only_type = [&](const char* what) -> Expected<void, std::string> {
        if (klen != 1) return E{where + ": " + what + " key has data after its type"};
        return {};
    };
    switch (type) {
    case 0x00: { // non-witness utxo: the whole previous transaction
        if (auto r = only_type("non-witness utxo"); !r) return r;
        auto tx = DecodeTransaction(value);
        if (!tx) return E{where + ": non-witness utxo is not a transaction"};
        if (tx->GetTxid() != txin.prevout.txid) return E{where + ": non-witness utxo is not the transaction the input spends"};
        return {};
    }
    case 0x01: { // witness utxo: the spent output
        if (auto r = only_type("witness utxo"); !r) return r;
        SpanReader vr{value};
        auto amount = vr.ReadLE64();
        auto spk = vr.ReadVarBytes();
        if (!amount || !spk || !vr.empty() || *amount > 2'100'000'000'000'000ULL) return E{where + ": witness utxo is not an output"};
        in.witness_utxo = TxOut{Amount{static_cast<int64_t>(*amount)}, Bytes(spk->begin(), spk->end())};
        return {};
    }
    case 0x02: // partial signature: key = type || pubkey
        if (!PubKeyLen(klen - 1)) return E{where + ": partial signature key is not a public key"};
        ++in.partial_sigs;
        return {};
    case 0x03: // sighash type
        if (auto r = only_type("sighash type"); !r) return r;
        if (value.size() != 4) return E{where + ": sighash type is not 4 bytes"};
        return {};
    case 0x04: return only_type("redeem script");
    case 0x05: return only_type("witness script");
    case 0x06: // BIP-32 derivation: key = type || pubkey
        if (!PubKeyLen(klen - 1)) return E{where + ": BIP-32 derivation key is not a public key"};
        if (value.size() % 4 != 0 || value.empty()) return E{where + ": BIP-32 derivation is not a fingerprint and a path"};
        return {};
    case 0x07: // final scriptSig
        if (auto r = only_type("final scriptSig"); !r) return r;
        in.final_script_sig = Bytes(value.begin(), value.end());
        return {};
    case 0x08: { // final script witness: a serialized witness stack
        if (auto r = only_type("final script witness"); !r) return r;
        SpanReader vr{value};
        auto n = vr.ReadCompactSize(value.size());
        if (!n) return E{where + ": final script witness is not a witness stack"};
        std::vector<Bytes> stack;
        for (uint64_t i = 0; i < *n; ++i) {
            auto item = vr.ReadVarBytes();
            if (!item) return E{where + ": final script witness is not a witness stack"};
            stack.emplace_back(item->begin(), item->end());
        }
        if (!vr.empty()) return E{where + ": final script witness has trailing bytes"};
        in.final_script_witness = std::move(stack);
        return {};
    }
    case 0x13: // taproot key-path signature
        if (auto r = only_type("taproot key signature"); !r) return r;
        if (value.size() != 64 && value.size() != 65) return E{where + ": taproot key signature is not 64 or 65 bytes"};
        return {};
    case 0x14: // taproot script-path signature: key = type || xonly pubkey || leaf hash
        if (klen != 65) return E{where + ": taproot script signature key is not a key and a leaf hash"};
        if (value.size() != 64 && value.size() != 65) return E{where + ": taproot script signature is not 64 or 65 bytes"};
        return {};
    case 0x15: // taproot leaf script: key = type || control block
        if (klen < 34 || (klen - 34) % 32 != 0) return E{where + ": taproot leaf script key is not a control block"};
        if (value.empty()) return E{where + ": taproot leaf script has no leaf version"};
        return {};
    case 0x16: // taproot BIP-32 derivation: key = type || xonly pubkey
        if (klen != 33) return E{where + ": taproot BIP-32 derivation key is not an x-only key"};
        return {};
    case 0x17: // taproot internal key
        if (auto r = only_type("taproot internal key"); !r) return r;
        if (value.size() != 32) return E{where + ": taproot internal key is not 32 bytes"};
        return {};
    case 0x18: // taproot merkle root
        if (auto r = only_type("taproot merkle root"); !r) return r;
        if (value.size() != 32) return E{where + ": taproot merkle root is not 32 bytes"};
        return {};
    default: return {}; // unknown types are kept by the BIP's rules; nothing here reads them
    }
}

Expected<void, std::string> CheckOutput(ByteSpan key, ByteSpan value, const std::string& where)
{
    const size_t klen = key.size();
    switch (key[0]) {
    case 0x00:
        if (klen != 1) return E{where + ": redeem script key has data after its type"};
        return {};
    case 0x01:
        if (klen != 1) return E{where + ": witness script key has data after its type"};
        return {};
    case 0x02:
        if (!PubKeyLen(klen - 1)) return E{where + ": BIP-32 derivation key is not a public key"};
        if (value.size() % 4 != 0 || value.empty()) return E{where + ": BIP-32 derivation is not a fingerprint and a path"};
        return {};
    case 0x05:
        if (klen != 1 || value.size() != 32) return E{where + ": taproot internal key is not a 32-byte key"};
        return {};
    case 0x06:
        if (klen != 1) return E{where + ": taproot tree key has data after its type"};
        return {};
    case 0x07:
        if (klen != 33) return E{where + ": taproot BIP-32 derivation key is not an x-only key"};
        return {};
    default: return {};
    }
}

} // namespace

Expected<Psbt, std::string> DecodePsbt(ByteSpan raw)
{
    if (raw.size() > kMaxPsbtBytes) return E{std::string("larger than 4 MB")};
    SpanReader r{raw};
    static constexpr uint8_t kMagic[5] = {'p', 's', 'b', 't', 0xff};
    auto magic = r.ReadBytes(5);
    if (!magic || !std::equal(magic->begin(), magic->end(), std::begin(kMagic))) {
        return E{std::string("not a PSBT (no \"psbt\" 0xff magic)")};
    }
    auto global = ReadMap(r, "global map");
    if (!global) return E{global.error()};
    std::optional<MutableTransaction> tx;
    for (const auto& [key, value] : *global) {
        if (key[0] == 0x00) {
            if (key.size() != 1) return E{std::string("global map: unsigned transaction key has data after its type")};
            SpanReader tr{value};
            auto t = ReadTransactionNoWitness(tr); // never the witness format (BIP-174)
            if (!t || !tr.empty()) return E{std::string("global map: the unsigned transaction does not parse")};
            tx = std::move(*t);
        } else if (key[0] == 0xfb) {
            if (key.size() != 1 || value.size() != 4) return E{std::string("global map: malformed version")};
            if (value[0] != 0 || value[1] != 0 || value[2] != 0 || value[3] != 0) return E{std::string("global map: PSBT version 2 or later (only version 0 is read)")};
        } else if (key[0] == 0x01) {
            if (key.size() != 79) return E{std::string("global map: extended key is not 78 bytes")};
        }
    }
    if (!tx) return E{std::string("global map: no unsigned transaction")};
    for (size_t i = 0; i < tx->vin.size(); ++i) {
        if (!tx->vin[i].script_sig.empty() || !tx->vin[i].witness.empty()) {
            return E{"the unsigned transaction's input " + std::to_string(i) + " is signed (a PSBT carries signatures in its input maps)"};
        }
    }
    Psbt p;
    p.inputs.resize(tx->vin.size());
    for (size_t i = 0; i < tx->vin.size(); ++i) {
        const std::string where = "input " + std::to_string(i);
        auto m = ReadMap(r, where);
        if (!m) return E{m.error()};
        for (const auto& [key, value] : *m) {
            if (auto c = CheckInput(key, value, where, p.inputs[i], tx->vin[i]); !c) return E{c.error()};
        }
    }
    for (size_t i = 0; i < tx->vout.size(); ++i) {
        const std::string where = "output " + std::to_string(i);
        auto m = ReadMap(r, where);
        if (!m) return E{m.error()};
        for (const auto& [key, value] : *m) {
            if (auto c = CheckOutput(key, value, where); !c) return E{c.error()};
        }
    }
    if (!r.empty()) return E{std::string("bytes after the last output map")};
    p.outputs = tx->vout.size();
    p.unsigned_tx = std::move(*tx);
    return p;
}

bool LooksLikePsbtBase64(std::string_view text) { return text.starts_with("cHNidP8"); }

Expected<Psbt, std::string> DecodePsbtBase64(std::string_view text)
{
    if (text.size() > kMaxPsbtBytes / 3 * 4 + 4) return E{std::string("larger than 4 MB")};
    if (text.size() % 4 != 0) return E{std::string("not base64 (its length is not a multiple of 4)")};
    Bytes out(text.size() / 4 * 3);
    const int n = EVP_DecodeBlock(out.data(), reinterpret_cast<const unsigned char*>(text.data()), static_cast<int>(text.size()));
    if (n < 0) return E{std::string("not base64")};
    // EVP_DecodeBlock counts the bytes the padding stands for.
    // Base64 pads with at most two '=': more (or more than was decoded) is not base64, and would
    // underflow the length.
    size_t len = static_cast<size_t>(n), pad = 0;
    for (size_t k = text.size(); k > 0 && text[k - 1] == '=' && pad <= 2; --k) ++pad;
    if (pad > 2 || pad > len) return E{std::string("not base64 (bad padding)")};
    out.resize(len - pad);
    return DecodePsbt(out);
}

Expected<Transaction, std::string> ExtractTransaction(const Psbt& psbt)
{
    MutableTransaction tx = psbt.unsigned_tx;
    for (size_t i = 0; i < tx.vin.size(); ++i) {
        const auto& in = psbt.inputs.at(i);
        if (!in.final_script_sig && !in.final_script_witness) {
            return E{"input " + std::to_string(i) + " is not finalized (no final scriptSig or witness): finalize the PSBT first (bitcoin-cli finalizepsbt)"};
        }
        if (in.final_script_sig) tx.vin[i].script_sig = *in.final_script_sig;
        if (in.final_script_witness) tx.vin[i].witness = *in.final_script_witness;
    }
    return Transaction{std::move(tx)};
}

} // namespace vw
