#pragma once
// BIP-341 signature message and hash (key path and tapscript path, every hash type).

#include "primitives/transaction.h"

#include <optional>

namespace vw::sighash {

inline constexpr uint8_t SIGHASH_DEFAULT = 0x00;
inline constexpr uint8_t SIGHASH_ALL = 0x01;
inline constexpr uint8_t SIGHASH_NONE = 0x02;
inline constexpr uint8_t SIGHASH_SINGLE = 0x03;
inline constexpr uint8_t SIGHASH_ANYONECANPAY = 0x80;

//! Transaction-wide BIP-341 sub-hashes (single SHA-256 each).
struct Precomputed {
    Uint256 prevouts, amounts, script_pubkeys, sequences, outputs;
    std::vector<TxOut> spent_outputs; //!< aligned with vin
};

enum class SighashError { BadHashType, InputOutOfRange, SpentOutputsMismatch, NoSingleOutput };
std::string_view ToString(SighashError e);

//! Returns: the precomputed data, or SpentOutputsMismatch unless spent has one entry per input.
Expected<Precomputed, SighashError> Precompute(const MutableTransaction& tx, std::vector<TxOut> spent);

//! Script-path extension (BIP-342): the executed leaf and the last executed OP_CODESEPARATOR.
struct ScriptPath {
    Uint256 leaf_hash;
    uint32_t codesep_pos{0xffffffff};
};

//! Returns: SigMsg(hash_type, ext_flag) of BIP-341 (without the 0x00 epoch byte).
Expected<Bytes, SighashError> SigMsg(const MutableTransaction& tx, const Precomputed& pre, uint32_t n_in,
                                     uint8_t hash_type, const std::optional<ScriptPath>& script_path,
                                     const std::optional<ByteSpan>& annex = std::nullopt);

//! Returns: hash_TapSighash(0x00 || SigMsg).
Expected<Uint256, SighashError> Sighash(const MutableTransaction& tx, const Precomputed& pre, uint32_t n_in,
                                        uint8_t hash_type, const std::optional<ScriptPath>& script_path,
                                        const std::optional<ByteSpan>& annex = std::nullopt);

} // namespace vw::sighash
