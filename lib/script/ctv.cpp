#include "script/ctv.h"

#include "crypto/sha256.h"

namespace vw::ctv {

Precomputed::Precomputed(const MutableTransaction& tx)
    : m_version(tx.version), m_locktime(tx.locktime), m_nin(static_cast<uint32_t>(tx.vin.size())),
      m_nout(static_cast<uint32_t>(tx.vout.size()))
{
    bool any_scriptsig = false;
    crypto::Sha256 ss, seq, outs;
    for (const auto& in : tx.vin) {
        if (!in.script_sig.empty()) any_scriptsig = true;
        Bytes b;
        Writer{b}.VarBytes(in.script_sig);
        ss.Write(b);
        Bytes s;
        Writer{s}.LE32(in.sequence);
        seq.Write(s);
    }
    for (const auto& out : tx.vout) {
        Bytes b;
        Writer{b}.LE64(static_cast<uint64_t>(out.value.sats())).VarBytes(out.script_pubkey);
        outs.Write(b);
    }
    if (any_scriptsig) m_scriptsigs = ss.Finalize();
    m_sequences = seq.Finalize();
    m_outputs = outs.Finalize();
}

Uint256 Precomputed::Hash(uint32_t n_in) const
{
    Bytes pre;
    pre.reserve(116);
    Writer w{pre};
    w.LE32(static_cast<uint32_t>(m_version)).LE32(m_locktime);
    if (m_scriptsigs) w.Raw(m_scriptsigs->span());
    w.LE32(m_nin).Raw(m_sequences.span()).LE32(m_nout).Raw(m_outputs.span()).LE32(n_in);
    return crypto::Sha256Once(pre);
}

} // namespace vw::ctv
