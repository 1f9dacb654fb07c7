#pragma once
// What bitcoind prints about scripts on regtest: asm, output type, address (bech32/bech32m with
// hrp "bcrt", base58 versions 111/196) and the inferred descriptor with its checksum. Also parses
// addresses back into scriptPubKeys for generatetoaddress/generateblock.

#include "sim_json.h"
#include "util/bytes.h"

#include <optional>
#include <string>

namespace vw::sim {

//! Core's ScriptToAsmStr; attempt_sighash_decode is true for scriptSigs.
std::string ScriptToAsm(ByteSpan script, bool attempt_sighash_decode = false);
//! Output type name: pubkey, pubkeyhash, scripthash, multisig, nulldata, witness_v0_keyhash,
//! witness_v0_scripthash, witness_v1_taproot, anchor, witness_unknown, nonstandard.
std::string ScriptType(ByteSpan spk);
//! Regtest address, if the script has one.
std::optional<std::string> ScriptAddress(ByteSpan spk);
//! {asm, desc, hex, address?, type} as in RPC output.
json::object ScriptPubKeyJson(ByteSpan spk);
//! "<desc>#<checksum>".
std::string AddDescriptorChecksum(const std::string& desc);
//! Decodes a regtest address (bech32/bech32m/base58) into its scriptPubKey.
std::optional<Bytes> DecodeAddress(const std::string& addr);
//! Encodes a segwit output as a regtest address.
std::string EncodeSegwitAddress(int version, ByteSpan program);
//! Accepts an address, or a descriptor raw(HEX) / addr(ADDR) (optionally with #checksum).
std::optional<Bytes> ParseOutputTarget(const std::string& target);

} // namespace vw::sim
