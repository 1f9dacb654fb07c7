#pragma once
// The JSON <-> C++ mapping of the vault RPC contract (docs/product.md §2, §4, §6): registervault
// parameters, the canonical registration the daemon stores to rebuild a vault at start, the
// listvaults/getvault result shapes, approvals and policies. Pure: no I/O, no clock, no logging.
//
// Conventions (all shapes):
//  - snake_case fields; amounts are integer satoshis; outpoints are {txid, vout} objects.
//  - Transaction ids (txid, trigger_txid, spent_by, watch_outpoints[].txid) are 64 hex digits in
//    RPC display order (byte-reversed, as bitcoind prints them): Txid::FromHex / Txid::ToString.
//  - Everything else that is hex (keys, scripts, raw transactions, CTV hashes) is the plain hex of
//    the bytes in serialization order. A CTV hash is the 32 bytes exactly as pushed in the withdraw
//    leaf `20 <ctv-hash> <delay> OP_CSV OP_DROP OP_CTV` (BIP-119 DefaultCheckTemplateVerifyHash
//    output, not reversed). Inside vault::Approval both are held in serialization order.
//  - Parsing is strict: unknown fields, wrong JSON types, non-integer numbers, out-of-range values,
//    bad or odd-length hex and oversized arrays/strings are refused. A null member counts as absent.
//  - Errors are operator-facing and name the offending field ("leaves[1].script: not hex"). They
//    never echo submitted values (a secret may be among them), only field names, sanitized and
//    truncated.
//  - Secrets: `recovery_auth` (opvault) is accepted by ParseRegisterVault and written by ToJson only
//    when include_secret is true (for the store, whose file is 0600). The result shapes
//    (VaultSummaryJson, VaultDetailJson) never contain it.

#include "util/expected.h"
#include "vault/policy.h"
#include "vault/registry.h"

#include <boost/json/object.hpp>
#include <boost/json/value.hpp>

#include <optional>
#include <string>
#include <string_view>
#include <variant>

namespace vw::rpc {

// --- limits -----------------------------------------------------------------------------------
inline constexpr size_t MAX_LABEL_BYTES = 128;           //!< label: UTF-8, no control characters
inline constexpr size_t MAX_JSON_ARRAY_ITEMS = 1000;     //!< leaves, outpoints, triggers, txs per list
inline constexpr size_t MAX_TX_HEX_CHARS = 400'000;      //!< one raw transaction
inline constexpr size_t MAX_SPK_BYTES = 10'000;          //!< recovery_script_pubkey (consensus script size)
inline constexpr int64_t MAX_HEIGHT = 100'000'000;       //!< birth_height, expiry_height

// --- registration -----------------------------------------------------------------------------

//! A parsed registervault request, ready for vault::Registry::AddOpVault / AddPresigned.
//! opvault: the spec is not validated yet (the Registry runs Vault::FromSpec, the auth-key checks
//! and CheckPolicy against the vault's shortest delay). presigned: already through ValidatePresigned
//! (the Registry still runs CheckPolicy).
using Registration = std::variant<vault::OpVaultRegistration, vault::PresignedRegistration, vault::CcvRegistration>;

//! Parses registervault parameters.
//! Common: `kind` ("opvault" | "presigned", required), `label` (string, optional, at most
//! MAX_LABEL_BYTES of UTF-8 without control characters), `policy` (optional, see ParsePolicy;
//! default {mode: "recover"}), `birth_height` (optional integer, 0..MAX_HEIGHT).
//! opvault: `internal_key` (64 hex, x-only), `leaves` ([{script: hex, depth: 0..128,
//! leaf_version?: even 0..254, default 192}] in BIP-341 depth-first order, as descriptors' tr()),
//! `recovery_script_pubkey` (hex), optional `recovery_auth` (64 hex secret key of an authorized
//! recover leaf `20 <pk> OP_CHECKSIGVERIFY 20 <hash> OP_VAULT_RECOVER`). The spec's recovery-auth
//! public key is taken from the recover leaf itself (first leaf whose script parses as an
//! authorized recover leaf with a `20 <pk> ad` prefix), so it needs no field of its own.
//! presigned: `watch_outpoints` ([{txid, vout}]), `triggers` ([{txid, spend_delay: 1..65535,
//! recovery_txs: [hex, ...]}]), optional `emergency_txs` ([hex, ...]); then ValidatePresigned.
//! ccv: `construction` ("ctv" | "withdrawal-key"), `spend_delay` (1..65535), `recover_pk`,
//! `unvault_pk` (64 hex, x-only), optional `partial_revault`, `early_recover` (booleans, default
//! true); no alternate key (a key path around the vault: the Registry refuses one anyway).
//! stored_output_key: only for a registration read back from the store with its output-key cache
//! (vault::DecodeOutputKeyCache): the internal key is then taken without its curve check and the
//! tweak is not redone. The caller must compare the resulting vault id with the stored one.
//! Returns: the registration, or the first problem found, naming the field.
Expected<Registration, std::string> ParseRegisterVault(const boost::json::object& params,
                                                       const std::optional<crypto::TweakedKey>& stored_output_key = std::nullopt);

//! Returns: the kind of a registration.
vault::VaultKind KindOf(const Registration& r);
//! Returns: the id the Registry will give r (vault::ComputeVaultId of its content). For an
//! opvault registration this is defined even if the spec would not validate.
vault::VaultId RegistrationId(const Registration& r);
//! Returns: r added to reg with AddOpVault / AddPresigned.
Expected<vault::AddResult, vault::AddError> AddToRegistry(vault::Registry& reg, Registration r);
//! Returns: r validated and built (vault::PrepareOpVault / PreparePresigned), for Registry::Add.
Expected<vault::PreparedVault, vault::AddError> PrepareRegistration(Registration r);
//! Returns: the registration a record was made from (current label, policy, birth height; the
//! recovery_auth secret when the record holds it). Its RegistrationId equals rec.id.
Registration RegistrationFromRecord(const vault::VaultRecord& rec, const vault::VaultDetails& d);

//! Returns: the canonical registervault parameters of r: what the daemon stores to rebuild the
//! vault at start. ParseRegisterVault(ToJson(r, true)) yields a registration with the same
//! RegistrationId, label, policy, birth height and secret. Presigned transactions are written as
//! raw hex in the validated order (recovery variants cheapest first).
//! include_secret: write `recovery_auth` (opvault, when held). Only for the store.
boost::json::object ToJson(const Registration& r, bool include_secret);
//! Returns: ToJson(RegistrationFromRecord(rec), include_secret).
boost::json::object ToJson(const vault::VaultRecord& rec, const vault::VaultDetails& d, bool include_secret);

// --- policy -----------------------------------------------------------------------------------

//! Parses {mode: "recover" | "delayed" | "alert" (default "recover"), grace_blocks: integer
//! (default 0)}. Checks what does not depend on the vault (CheckPolicy with the largest possible
//! delay): "delayed" needs grace_blocks >= 1, the other modes take no grace_blocks. Whether
//! grace_blocks leaves enough room before the vault's shortest spend delay is the Registry's check
//! at registration (RegistryError::UnsafePolicy) and the setpolicy handler's (vault::CheckPolicy).
//! Errors are prefixed "policy" (e.g. "policy.mode: ...").
Expected<vault::Policy, std::string> ParsePolicy(const boost::json::value& v);
//! Returns: {mode, grace_blocks}.
boost::json::object PolicyJson(const vault::Policy& p);

// --- approvals --------------------------------------------------------------------------------

//! Parses an approval: exactly one of `ctv_hash` (64 hex, the bytes as pushed in the withdraw
//! leaf, stored as is) or `trigger_txid` (64 hex, display order like every txid; stored in
//! serialization order, i.e. byte-reversed), and optional `expiry_height` (0..MAX_HEIGHT; the
//! approval applies up to and including that tip height). Other fields are refused: a handler
//! binding approvetrigger's named arguments passes the object without `vault_id`.
Expected<vault::Approval, std::string> ParseApproval(const boost::json::object& o);
//! Returns: why approval a can never match a trigger of a vault of kind k (a CTV hash for a
//! presigned vault), or nullopt.
std::optional<std::string> CheckApprovalFor(vault::VaultKind k, const vault::Approval& a);
//! Returns: {kind: "ctv_hash" | "trigger_txid", value: hex (as described at ParseApproval),
//! expiry_height: int | null, revoked: bool}.
boost::json::object ApprovalJson(const vault::Approval& a);

// --- results ----------------------------------------------------------------------------------

//! Returns: the bech32 human-readable part for a chain name: "main" -> "bc"; "test", "testnet4",
//! "signet" -> "tb"; "regtest" -> "bcrt"; else nullopt.
std::optional<std::string_view> HrpForChain(std::string_view chain);

//! listvaults entry: {vault_id, kind, label, state, policy{mode, grace_blocks}, birth_height|null,
//! spend_delay (shortest; 0 if none), utxo_count, approval_count}.
boost::json::object VaultSummaryJson(const vault::VaultRecord& rec);

//! getvault result: the summary plus
//!  utxos: [{txid, vout, amount: sats | null (unknown: a presigned watched outpoint not yet seen
//!          funded), role, height|null, spent_by|null, and for role "trigger": trigger_txid,
//!          spend_delay, ctv_hash|null}],
//!  approvals: [ApprovalJson],
//!  opvault: script_pubkey, address (bech32m for hrp), internal_key, recovery_script_pubkey,
//!          recovery_address|null, recovery_spk_hash, authorized_recovery (the recover leaf needs a
//!          signature), recovery_auth_held (the daemon holds that secret; the secret itself is never
//!          returned), spend_delays [per trigger leaf, tree order], leaves [{script, depth,
//!          leaf_version, role: "recover"|"trigger"|"other", tapleaf_hash}];
//!  presigned: watch_outpoints [{txid, vout}], triggers [{txid, spend_delay, recovery_variants}],
//!          emergency_tx_count.
//! In: hrp such as "bc", "tb", "bcrt" (HrpForChain).
boost::json::object VaultDetailJson(const vault::VaultRecord& rec, const vault::VaultDetails& d, std::string_view hrp);

//! Returns: {txid, vout}.
boost::json::object OutPointJson(const OutPoint& o);

//! {recovers, warnings}: whether the tower can answer a trigger of this vault by itself, and why not.
boost::json::object ProtectionJson(const vault::VaultRecord& rec, const vault::VaultDetails& d);

} // namespace vw::rpc
