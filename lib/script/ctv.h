#pragma once
// BIP-119 DefaultCheckTemplateVerifyHash.

#include "primitives/transaction.h"

namespace vw::ctv {

//! The per-transaction sub-hashes, computed once so that hashing for many input indices is
//! linear, not quadratic (the BIP's DoS note).
class Precomputed
{
public:
    explicit Precomputed(const MutableTransaction& tx);
    //! Returns: DefaultCheckTemplateVerifyHash(tx, n_in), raw digest bytes (script push order).
    Uint256 Hash(uint32_t n_in) const;

private:
    int32_t m_version;
    uint32_t m_locktime;
    std::optional<Uint256> m_scriptsigs; //!< only when some scriptSig is non-empty
    uint32_t m_nin;
    Uint256 m_sequences;
    uint32_t m_nout;
    Uint256 m_outputs;
};

inline Uint256 TemplateHash(const MutableTransaction& tx, uint32_t n_in) { return Precomputed{tx}.Hash(n_in); }

} // namespace vw::ctv
