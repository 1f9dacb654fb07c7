#include "script/sighash.h"

#include "crypto/sha256.h"

namespace vw::sighash {

std::string_view ToString(SighashError e)
{
    switch (e) {
    case SighashError::BadHashType: return "invalid taproot hash type";
    case SighashError::InputOutOfRange: return "input index out of range";
    case SighashError::SpentOutputsMismatch: return "spent outputs do not match the inputs";
    case SighashError::NoSingleOutput: return "SIGHASH_SINGLE without a matching output";
    }
    return "unknown error";
}

namespace {
void WriteTxOut(Writer& w, const TxOut& o) { w.LE64(static_cast<uint64_t>(o.value.sats())).VarBytes(o.script_pubkey); }
} // namespace

Expected<Precomputed, SighashError> Precompute(const MutableTransaction& tx, std::vector<TxOut> spent)
{
    if (spent.size() != tx.vin.size()) return Unexpected{SighashError::SpentOutputsMismatch};
    Writer prev, amt, spk, seq, outs;
    for (size_t i = 0; i < tx.vin.size(); ++i) {
        prev.Raw(tx.vin[i].prevout.txid.span()).LE32(tx.vin[i].prevout.n);
        amt.LE64(static_cast<uint64_t>(spent[i].value.sats()));
        spk.VarBytes(spent[i].script_pubkey);
        seq.LE32(tx.vin[i].sequence);
    }
    for (const auto& o : tx.vout) WriteTxOut(outs, o);
    Precomputed p;
    p.prevouts = crypto::Sha256Once(prev.buf());
    p.amounts = crypto::Sha256Once(amt.buf());
    p.script_pubkeys = crypto::Sha256Once(spk.buf());
    p.sequences = crypto::Sha256Once(seq.buf());
    p.outputs = crypto::Sha256Once(outs.buf());
    p.spent_outputs = std::move(spent);
    return p;
}

Expected<Bytes, SighashError> SigMsg(const MutableTransaction& tx, const Precomputed& pre, uint32_t n_in,
                                     uint8_t hash_type, const std::optional<ScriptPath>& script_path,
                                     const std::optional<ByteSpan>& annex)
{
    if (!(hash_type <= 0x03 || (hash_type >= 0x81 && hash_type <= 0x83))) return Unexpected{SighashError::BadHashType};
    if (n_in >= tx.vin.size()) return Unexpected{SighashError::InputOutOfRange};
    if (pre.spent_outputs.size() != tx.vin.size()) return Unexpected{SighashError::SpentOutputsMismatch};
    const uint8_t out_type = hash_type == SIGHASH_DEFAULT ? SIGHASH_ALL : (hash_type & 0x03);
    const bool anyone = (hash_type & SIGHASH_ANYONECANPAY) != 0;
    if (out_type == SIGHASH_SINGLE && n_in >= tx.vout.size()) return Unexpected{SighashError::NoSingleOutput};

    Writer w;
    w.U8(hash_type).LE32(static_cast<uint32_t>(tx.version)).LE32(tx.locktime);
    if (!anyone) {
        w.Raw(pre.prevouts.span()).Raw(pre.amounts.span()).Raw(pre.script_pubkeys.span()).Raw(pre.sequences.span());
    }
    if (out_type != SIGHASH_NONE && out_type != SIGHASH_SINGLE) w.Raw(pre.outputs.span());
    const uint8_t ext_flag = script_path ? 1 : 0;
    w.U8(static_cast<uint8_t>(ext_flag * 2 + (annex ? 1 : 0)));
    if (anyone) {
        const TxIn& in = tx.vin[n_in];
        w.Raw(in.prevout.txid.span()).LE32(in.prevout.n);
        WriteTxOut(w, pre.spent_outputs[n_in]);
        w.LE32(in.sequence);
    } else {
        w.LE32(n_in);
    }
    if (annex) {
        Writer a;
        a.VarBytes(*annex);
        w.Raw(crypto::Sha256Once(a.buf()).span());
    }
    if (out_type == SIGHASH_SINGLE) {
        Writer o;
        WriteTxOut(o, tx.vout[n_in]);
        w.Raw(crypto::Sha256Once(o.buf()).span());
    }
    if (script_path) {
        w.Raw(script_path->leaf_hash.span()).U8(0x00).LE32(script_path->codesep_pos);
    }
    return w.Take();
}

Expected<Uint256, SighashError> Sighash(const MutableTransaction& tx, const Precomputed& pre, uint32_t n_in,
                                        uint8_t hash_type, const std::optional<ScriptPath>& script_path,
                                        const std::optional<ByteSpan>& annex)
{
    auto msg = SigMsg(tx, pre, n_in, hash_type, script_path, annex);
    if (!msg) return Unexpected{msg.error()};
    const uint8_t epoch = 0x00;
    return crypto::TapSighashTag().Hasher().Write(ByteSpan{&epoch, 1}).Write(*msg).Finalize();
}

} // namespace vw::sighash
