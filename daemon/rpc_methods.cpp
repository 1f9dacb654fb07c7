#include "rpc_methods.h"

#include "vault/registry.h"

#include <boost/json.hpp>

#include <limits>

namespace vw::daemon {
namespace json = boost::json;
using rpc::ArgType;
using rpc::RpcFailure;
using Result = Expected<json::value, RpcFailure>;

namespace {
RpcFailure Unavailable() { return RpcFailure{rpc::RPC_MISC_ERROR, "not available in this process"}; }

Result FromEngine(Expected<json::value, EngineError> r)
{
    if (!r) return Unexpected{RpcFailure{r.error().code, r.error().message}};
    return std::move(*r);
}

std::string Str(const rpc::Args& a, const char* name) { return std::string(a.at(name).as_string()); }

std::optional<std::string> OptStr(const rpc::Args& a, const char* name)
{
    auto it = a.find(name);
    if (it == a.end() || it->second.is_null()) return std::nullopt;
    return std::string(it->second.as_string());
}

//! A vault id argument, parsed here: the engine only ever sees well-formed ids.
Expected<std::optional<vault::VaultId>, RpcFailure> OptVaultId(const rpc::Args& a, const char* name)
{
    auto s = OptStr(a, name);
    if (!s) return std::optional<vault::VaultId>{};
    if (auto id = vault::VaultId::Parse(*s)) return std::optional<vault::VaultId>{*id};
    // Names no vault: the same answer as an unknown id (docs/rpc.md), with what a vault id looks like.
    return Unexpected{RpcFailure{rpc::RPC_NOT_FOUND, "no vault " + *s + " (" + name + ": not a vault id, which is \"v-\" and 16 lowercase hex digits)"}};
}

//! Runs f with the required vault id argument `vault_id`, or refuses a malformed one.
template <typename F>
Result WithVaultId(const rpc::Args& a, F&& f)
{
    auto id = OptVaultId(a, "vault_id");
    if (!id) return Unexpected{id.error()};
    return FromEngine(f(**id));
}
} // namespace

std::unique_ptr<rpc::RpcTable> MakeRpcTable(RpcContext ctx)
{
    auto table = std::make_unique<rpc::RpcTable>();
    rpc::RpcTable* t = table.get();
    auto c = std::make_shared<RpcContext>(std::move(ctx));

    t->Add({"help",
            "control",
            "Lists every method, or describes one.",
            {{"command", ArgType::String, false, std::nullopt, "the method to describe"}},
            {{"help", "string", "the help text"}},
            {"vaultwatch-cli help", "vaultwatch-cli help registervault"},
            [t](const rpc::Args& a) -> Result {
                if (auto it = a.find("command"); it != a.end()) {
                    const auto* m = t->Find(std::string_view{it->second.as_string()});
                    if (!m) return Unexpected{RpcFailure{rpc::RPC_INVALID_PARAMETER, "unknown command: " + std::string(it->second.as_string())}};
                    return json::value(json::object{{"help", t->HelpFor(*m)}});
                }
                return json::value(json::object{{"help", t->HelpOverview()}});
            }});

    t->Add({"getinfo",
            "control",
            "Reports the daemon's version, chain, the node's health and the chain cursor.",
            {},
            {{"version", "string", "vaultwatchd version"},
             {"chain", "string", "configured chain"},
             {"node", "string", "ok, unreachable, warming_up, initial_block_download, pruned_below_cursor, wrong_chain or unknown"},
             {"node_detail", "string", "why the node is not ok (empty when ok)"},
             {"height", "integer", "height of the last block fully processed (the cursor)"},
             {"best_block_hash", "string", "hash of that block"},
             {"node_height", "integer", "the node's tip height as last seen"},
             {"caught_up", "boolean", "whether the first catch-up has completed"},
             {"zmq_gaps", "integer", "ZMQ sequence gaps detected since start"},
             {"zmq_restarts", "integer", "ZMQ publisher restarts detected since start"},
             {"vaults", "integer", "vaults registered and not removed"},
             {"opvault_enforced", "boolean", "whether the node enforces OP_VAULT (null until it has answered)"},
             {"ccv_enforced", "boolean", "whether the node passed the OP_CHECKCONTRACTVERIFY enforcement probe (null until it has been run: it needs a fee-wallet coin)"},
             {"rescan", "object", "while rescans are pending: {pending, height (the block being read)}; else null"},
             {"store_error", "string", "why the last block could not be stored (disk full, I/O), retried until it is; empty when fine"}},
            {"vaultwatch-cli getinfo"},
            [c](const rpc::Args&) -> Result {
                if (!c->getinfo) return Unexpected{Unavailable()};
                return c->getinfo();
            }});

    t->Add({"stop",
            "control",
            "Stops vaultwatchd cleanly (the same as SIGTERM).",
            {},
            {{"stopping", "boolean", "always true"}},
            {"vaultwatch-cli stop"},
            [c](const rpc::Args&) -> Result {
                if (!c->stop) return Unexpected{Unavailable()};
                c->stop();
                return json::value(json::object{{"stopping", true}});
            }});
    // --- vaults -----------------------------------------------------------------------------
    auto engine = [c]() -> VaultControl* { return c->engine; };
    t->Add({"registervault",
            "vaults",
            "Registers a vault to watch (docs/product.md §2). kind \"opvault\": internal_key, leaves [{script, depth}], "
            "recovery_script_pubkey, optional recovery_auth (secret key, never returned). kind \"presigned\": watch_outpoints "
            "[{txid, vout}], triggers [{txid, spend_delay, recovery_txs: [hex]}], optional emergency_txs (each transaction raw hex "
            "or a finalized BIP-174 PSBT in base64). kind \"ccv\" (BIP-443, docs/ccv.md): construction (ctv|withdrawal-key), "
            "spend_delay, recover_pk, unvault_pk, optional partial_revault, early_recover (booleans, default true). All: "
            "optional label, policy {mode: recover|delayed|alert, grace_blocks}, birth_height (scan back from there). opvault "
            "vaults are refused when the node does not enforce OP_VAULT, ccv vaults until the node has passed the CCV "
            "enforcement probe (getinfo ccv_enforced). Registering the same content again returns the existing vault. "
            "Concurrent calls (several connections) are stored in one database transaction.",
            {{"vault", ArgType::Object, true, std::nullopt, "the registration object"}},
            {{"vault_id", "string", "the vault's id"},
             {"kind", "string", "opvault, presigned or ccv"},
             {"script_pubkey", "string", "opvault, ccv: the vault's scriptPubKey (hex)"},
             {"address", "string", "opvault, ccv: the vault's address"},
             {"state", "string", "active, triggered, recovering, recovered, withdrawn or removed"},
             {"rescan_from", "integer", "when birth_height is below the tip: where the rescan starts"},
             {"already_registered", "boolean", "present when the vault was registered before"}},
            {"vaultwatch-cli registervault '{\"kind\":\"presigned\",\"watch_outpoints\":[...],\"triggers\":[...]}'"},
            [engine](const rpc::Args& a) -> Result {
                if (!engine()) return Unexpected{Unavailable()};
                return FromEngine(engine()->RegisterVault(a.at("vault").as_object()));
            },
            // Concurrent registrations share one transaction (one fsync): the same results as
            // one call after the other.
            [engine](std::span<const rpc::Args> calls) -> std::vector<Result> {
                std::vector<Result> out;
                if (!engine()) {
                    out.assign(calls.size(), Unexpected{Unavailable()});
                    return out;
                }
                json::array vaults;
                for (const auto& a : calls) vaults.push_back(a.at("vault"));
                auto r = engine()->RegisterVaults(vaults);
                if (!r) {
                    out.assign(calls.size(), Unexpected{RpcFailure{r.error().code, r.error().message}});
                    return out;
                }
                for (auto& item : r->as_object().at("results").as_array()) {
                    if (const auto* err = item.as_object().if_contains("error")) {
                        out.push_back(Unexpected{RpcFailure{static_cast<int>(err->at("code").as_int64()), std::string(err->at("message").as_string())}});
                    } else {
                        out.push_back(std::move(item));
                    }
                }
                return out;
            }});
    t->Add({"registerfamily",
            "vaults",
            "Registers a vault family once: the vaults of one vault wallet, member i's trigger key the i-th child of the "
            "family's xpub (docs/vault-families.md). Members 0..gap_limit-1 are registered now; each deposit to a member "
            "registers the next ones, so gap_limit members always lie beyond the highest used, in the transaction of the "
            "block that brought the deposit. Every member takes the family's policy and recovery_auth.",
            {{"family", ArgType::String, true, std::nullopt, "the text form: opvault(<internal key>,<recovery spk>,<auth key|noauth>,<delay>,<xpub>/.../*)#<checksum>"},
             {"gap_limit", ArgType::Int, false, json::value(20), "members kept registered beyond the highest used (1..10000)"},
             {"label", ArgType::String, false, std::nullopt, "a label; member i is labelled \"<label> #i\""},
             {"policy", ArgType::Object, false, std::nullopt, "every member's policy (default {mode: recover})"},
             {"birth_height", ArgType::Int, false, std::nullopt, "scan back from there for the first members"},
             {"recovery_auth", ArgType::Hex, false, std::nullopt, "the secret of the recovery-auth key (never returned)"}},
            {{"family_id", "string", "the family's id"},
             {"family", "string", "its text form"},
             {"gap_limit", "integer", "members kept beyond the highest used"},
             {"members", "integer", "members registered (0..members-1)"},
             {"policy", "object", "every member's policy"},
             {"recovers", "boolean", "whether the tower can sweep (false: an authorized recover leaf without its secret)"},
             {"already_registered", "boolean", "present when the family was registered before"}},
            {"vaultwatch-cli -named registerfamily family='opvault(...)#...' gap_limit=50"},
            [engine](const rpc::Args& a) -> Result {
                if (!engine()) return Unexpected{Unavailable()};
                json::object p;
                for (const auto& [k, v] : a) p[k] = v;
                return FromEngine(engine()->RegisterFamily(p));
            }});
    t->Add({"importvaultwallet",
            "vaults",
            "Imports a vault wallet of jamesob/opvault-demo (the BIP-345 reference wallet) from its config.json, as a "
            "family (registerfamily): nobody touches keys or scripts. recovery_phrase gives the recovery-auth secret "
            "(pass it with -stdin, never on the command line); without it the family is alert-only and the answer says "
            "so. The default policy is \"delayed\" with a grace period (the wallet broadcasts its owner's own "
            "withdrawals at once: approve them by CTV hash within the grace period), gap_limit 200 (the wallet's own "
            "look-ahead), birth_height the wallet's.",
            {{"config", ArgType::Any, true, std::nullopt, "the config.json (object, or its text)"},
             {"recovery_phrase", ArgType::String, false, std::nullopt, "the wallet's recovery phrase"},
             {"gap_limit", ArgType::Int, false, std::nullopt, "default 200"},
             {"label", ArgType::String, false, std::nullopt, "a label"},
             {"policy", ArgType::Object, false, std::nullopt, "default {mode: delayed, grace_blocks: min(delay/2, delay-3)}"},
             {"birth_height", ArgType::Int, false, std::nullopt, "default: the wallet's birthday_height"}},
            {{"family_id", "string", "the family's id"},
             {"family", "string", "its text form (registerfamily takes it back)"},
             {"members", "integer", "members registered"},
             {"recovers", "boolean", "whether the tower can sweep"},
             {"warning", "string", "present when the family is alert-only"}},
            {"vaultwatch-cli -stdin -named importvaultwallet config=\"$(cat config.json)\"   (then recovery_phrase=... on stdin)"},
            [engine](const rpc::Args& a) -> Result {
                if (!engine()) return Unexpected{Unavailable()};
                json::object p;
                for (const auto& [k, v] : a) p[k] = v;
                return FromEngine(engine()->ImportVaultWallet(p));
            }});
    t->Add({"listfamilies",
            "vaults",
            "Lists the vault families: text form, gap limit, members registered, policy.",
            {},
            {{"families", "array", "[{family_id, family, label, gap_limit, members, policy, recovers, birth_height}]"}},
            {"vaultwatch-cli listfamilies"},
            [engine](const rpc::Args&) -> Result {
                if (!engine()) return Unexpected{Unavailable()};
                return engine()->ListFamilies();
            }});
    t->Add({"registervaults",
            "vaults",
            "Registers many vaults in one call and one database transaction (wallet imports, large custodians). Each "
            "element is a registervault object; each gets its own result or error, in order.",
            {{"vaults", ArgType::Array, true, std::nullopt, "registration objects, as for registervault (at most 10000)"}},
            {{"results", "array", "per vault: the registervault result, or {error: {code, message}}"}},
            {"vaultwatch-cli registervaults '[{...}, {...}]'"},
            [engine](const rpc::Args& a) -> Result {
                if (!engine()) return Unexpected{Unavailable()};
                const auto& arr = a.at("vaults").as_array();
                if (arr.size() > 10000) return Unexpected{RpcFailure{rpc::RPC_INVALID_PARAMETER, "at most 10000 vaults per call"}};
                return FromEngine(engine()->RegisterVaults(arr));
            }});
    t->Add({"getvault",
            "vaults",
            "Shows one vault: kind, state, policy, tracked UTXOs, triggers seen with the policy's decision, recoveries.",
            {{"vault_id", ArgType::String, true, std::nullopt, "the vault's id"}},
            {{"vault_id", "string", "the vault's id"},
             {"kind", "string", "opvault or presigned"},
             {"state", "string", "the vault's state"},
             {"policy", "object", "{mode, grace_blocks}"},
             {"utxos", "array", "[{txid, vout, amount, role, height, spent_by}]"},
             {"triggers", "array", "[{txid, height, ctv_hash, approved, action, deadline_height}]"},
             {"recoveries", "array", "[{txid, state, ...}] (see listrecoveries)"}},
            {"vaultwatch-cli getvault v-0123456789abcdef"},
            [engine](const rpc::Args& a) -> Result {
                if (!engine()) return Unexpected{Unavailable()};
                return WithVaultId(a, [&](const vault::VaultId& id) { return engine()->GetVault(id); });
            }});
    t->Add({"listvaults",
            "vaults",
            "Lists the registered vaults (removed ones only when asked for by state).",
            {{"state", ArgType::String, false, std::nullopt, "only vaults in this state"}},
            {{"vaults", "array", "[{vault_id, kind, label, state, ...}]"}},
            {"vaultwatch-cli listvaults", "vaultwatch-cli listvaults triggered"},
            [engine](const rpc::Args& a) -> Result {
                if (!engine()) return Unexpected{Unavailable()};
                const auto state = OptStr(a, "state");
                // A typo must not read as "no vaults in that state".
                if (state && !vault::ParseVaultState(*state)) {
                    return Unexpected{RpcFailure{rpc::RPC_INVALID_PARAMETER,
                                                 "unknown state '" + *state + "' (active, triggered, recovering, recovered, withdrawn, removed)"}};
                }
                return engine()->ListVaults(state);
            }});
    t->Add({"removevault",
            "vaults",
            "Stops watching a vault. Its history stays in the event log.",
            {{"vault_id", ArgType::String, true, std::nullopt, "the vault's id"}},
            {{"vault_id", "string", "the vault's id"}, {"removed", "boolean", "always true"}},
            {"vaultwatch-cli removevault v-0123456789abcdef"},
            [engine](const rpc::Args& a) -> Result {
                if (!engine()) return Unexpected{Unavailable()};
                return WithVaultId(a, [&](const vault::VaultId& id) { return engine()->RemoveVault(id); });
            }});
    t->Add({"setpolicy",
            "vaults",
            "Changes a vault's policy. A delayed policy must leave a safety margin before the shortest spend delay.",
            {{"vault_id", ArgType::String, true, std::nullopt, "the vault's id"},
             {"policy", ArgType::Object, true, std::nullopt, "{mode: recover|delayed|alert, grace_blocks}"}},
            {{"vault_id", "string", "the vault's id"}, {"policy", "object", "the policy now in force"}},
            {"vaultwatch-cli setpolicy v-0123456789abcdef '{\"mode\":\"delayed\",\"grace_blocks\":6}'"},
            [engine](const rpc::Args& a) -> Result {
                if (!engine()) return Unexpected{Unavailable()};
                return WithVaultId(a, [&](const vault::VaultId& id) { return engine()->SetPolicy(id, a.at("policy")); });
            }});
    t->Add({"approvetrigger",
            "vaults",
            "Approves one withdrawal: a trigger committing to this CTV hash (opvault) or with this txid (presigned) is left "
            "alone. Give exactly one of ctv_hash and trigger_txid.",
            {{"vault_id", ArgType::String, true, std::nullopt, "the vault's id"},
             {"ctv_hash", ArgType::Hash, false, std::nullopt, "opvault: the withdrawal template hash, as pushed in the script"},
             {"trigger_txid", ArgType::Hash, false, std::nullopt, "presigned: the trigger's txid"},
             {"expiry_height", ArgType::Int, false, std::nullopt, "last height the approval applies at"}},
            {{"approval_id", "integer", "the approval's id"}, {"vault_id", "string", "the vault's id"}},
            {"vaultwatch-cli -named approvetrigger vault_id=v-0123456789abcdef ctv_hash=<hex> expiry_height=900"},
            [engine](const rpc::Args& a) -> Result {
                if (!engine()) return Unexpected{Unavailable()};
                json::object o;
                for (const char* k : {"ctv_hash", "trigger_txid", "expiry_height"}) {
                    if (auto it = a.find(k); it != a.end() && !it->second.is_null()) o[k] = it->second;
                }
                return WithVaultId(a, [&](const vault::VaultId& id) { return engine()->ApproveTrigger(id, o); });
            }});
    t->Add({"listapprovals",
            "vaults",
            "Lists a vault's approvals, revoked ones included.",
            {{"vault_id", ArgType::String, true, std::nullopt, "the vault's id"}},
            {{"approvals", "array", "[{approval_id, kind, value, expiry_height, revoked}]"}},
            {"vaultwatch-cli listapprovals v-0123456789abcdef"},
            [engine](const rpc::Args& a) -> Result {
                if (!engine()) return Unexpected{Unavailable()};
                return WithVaultId(a, [&](const vault::VaultId& id) { return engine()->ListApprovals(id); });
            }});
    t->Add({"revokeapproval",
            "vaults",
            "Revokes an approval. An open trigger it covered is decided again at once.",
            {{"approval_id", ArgType::Int, true, std::nullopt, "the approval's id"}},
            {{"approval_id", "integer", "the approval's id"}, {"revoked", "boolean", "always true"}},
            {"vaultwatch-cli revokeapproval 3"},
            [engine](const rpc::Args& a) -> Result {
                if (!engine()) return Unexpected{Unavailable()};
                return FromEngine(engine()->RevokeApproval(a.at("approval_id").to_number<int64_t>()));
            }});

    // --- recoveries and events --------------------------------------------------------------
    t->Add({"listrecoveries",
            "recoveries",
            "Lists the recoveries decided on, with their state: planned or broadcast (live), confirmed, or failed, conflicted (an input spent by another transaction) or replaced (by our own fee bump).",
            {{"vault_id", ArgType::String, false, std::nullopt, "only this vault's"}},
            {{"recoveries", "array", "[{txid, kind, trigger_txid, vault_ids, state, deadline_height, confirmed_height, attempts, last_error, created_at}]"}},
            {"vaultwatch-cli listrecoveries"},
            [engine](const rpc::Args& a) -> Result {
                if (!engine()) return Unexpected{Unavailable()};
                auto id = OptVaultId(a, "vault_id");
                if (!id) return Unexpected{id.error()};
                return engine()->ListRecoveries(*id);
            }});
    t->Add({"getrecovery",
            "recoveries",
            "Shows one recovery, with its raw transaction.",
            {{"txid", ArgType::Hash, true, std::nullopt, "the recovery's txid"}},
            {{"txid", "string", "the recovery's txid"}, {"state", "string", "its state"}, {"hex", "string", "the transaction"}},
            {"vaultwatch-cli getrecovery <txid>"},
            [engine](const rpc::Args& a) -> Result {
                if (!engine()) return Unexpected{Unavailable()};
                auto txid = Txid::FromHex(Str(a, "txid")); // ArgType::Hash: 64 hex digits
                if (!txid) return Unexpected{RpcFailure{rpc::RPC_INVALID_PARAMETER, "txid: not a txid"}};
                return FromEngine(engine()->GetRecovery(*txid));
            }});
    t->Add({"recovervault",
            "recoveries",
            "The panic button: sweeps every unspent output of a vault to its recovery destination now, whatever "
            "its policy and approvals say. opvault: through the recover leaf (an unauthorized leaf sweeps the whole "
            "recovery group, as its recovery address becomes public); presigned: the pre-signed recovery of a "
            "triggered output, the emergency txs for the others. Asking again reports the recoveries in flight.",
            {{"vault_id", ArgType::String, true, std::nullopt, "the vault's id"}},
            {{"vault_id", "string", "the vault's id"},
             {"recoveries", "array", "the vault's recoveries now in flight: [{txid, kind, trigger_txid (null), vault_ids, state, ...}]"}},
            {"vaultwatch-cli recovervault v-0123456789abcdef"},
            [engine](const rpc::Args& a) -> Result {
                if (!engine()) return Unexpected{Unavailable()};
                return WithVaultId(a, [&](const vault::VaultId& id) { return engine()->RecoverVault(id); });
            }});
    t->Add({"rescan",
            "recoveries",
            "Reads the blocks from from_height to the tip again, looking for deposits, triggers and spends of one vault (or "
            "of every vault) that were missed: a birth height given too late, a restored backup. Runs in the background "
            "(getinfo shows its progress) and survives a restart; triggers it finds are alerted on and decided as usual.",
            {{"from_height", ArgType::Int, true, std::nullopt, "the first block to read"},
             {"vault_id", ArgType::String, false, std::nullopt, "only this vault (default: every vault)"}},
            {{"rescan_id", "integer", "the request's id"},
             {"from_height", "integer", "the first block it reads"},
             {"to_height", "integer", "the tip when it was asked for (it goes on to the tip it finds at the end)"},
             {"vault_id", "string", "the vault, or null for every vault"}},
            {"vaultwatch-cli rescan 800000", "vaultwatch-cli -named rescan from_height=800000 vault_id=v-0123456789abcdef"},
            [engine](const rpc::Args& a) -> Result {
                if (!engine()) return Unexpected{Unavailable()};
                const auto from = a.at("from_height").to_number<int64_t>();
                if (from < 0 || from > std::numeric_limits<int>::max()) {
                    return Unexpected{RpcFailure{rpc::RPC_INVALID_PARAMETER, "from_height must be between 0 and the tip"}};
                }
                auto id = OptVaultId(a, "vault_id");
                if (!id) return Unexpected{id.error()};
                return FromEngine(engine()->Rescan(static_cast<int>(from), *id));
            }});
    t->Add({"getfeewallet",
            "recoveries",
            "Shows the fee wallet recoveries draw their fees from: its address (fund it there), confirmed balance, "
            "coins, how many recoveries it pays for at the current feerate (one coin each), and the reserve that "
            "answering every registered vault at once needs. The key never leaves its file.",
            {{"feerate_sat_per_kvb", ArgType::Int, false, std::nullopt, "size the reserve at this feerate (default: the rate a recovery pays now)"}},
            {{"address", "string", "the P2TR address to fund"},
             {"script_pubkey", "string", "its scriptPubKey (hex)"},
             {"balance", "integer", "confirmed satoshis not being spent"},
             {"pending_balance", "integer", "satoshis received but not confirmed yet"},
             {"reserve", "integer", "feewalletreserve (0 = none configured)"},
             {"reserve_needed", "object", "{feerate_sat_per_kvb, recoveries, fee_per_recovery, coin, amount}: one recovery per sweepable vault, each a coin of its own (of `coin` satoshis)"},
             {"low", "boolean", "whether the balance is below feewalletreserve, or the wallet cannot pay reserve_needed"},
             {"utxos", "array", "[{txid, vout, amount, height (null: unconfirmed), spent_by (null or txid), held_by (null or the live recovery that will spend it)}]"},
             {"coverage", "object", "{feerate_sat_per_kvb, feerate_source (estimatesmartfee|fallbackfeerate), fee_per_recovery, recoveries}"}},
            {"vaultwatch-cli getfeewallet", "vaultwatch-cli getfeewallet 50000"},
            [engine](const rpc::Args& a) -> Result {
                if (!engine()) return Unexpected{Unavailable()};
                std::optional<int64_t> rate;
                if (auto it = a.find("feerate_sat_per_kvb"); it != a.end() && !it->second.is_null()) {
                    rate = it->second.to_number<int64_t>();
                    if (*rate < 0 || *rate > 100'000'000) {
                        return Unexpected{RpcFailure{rpc::RPC_INVALID_PARAMETER, "feerate_sat_per_kvb must be between 0 and 100000000"}};
                    }
                }
                return FromEngine(engine()->GetFeeWallet(rate));
            }});
    t->Add({"listevents",
            "recoveries",
            "Lists the event log (what webhooks deliver), oldest first.",
            {{"after", ArgType::Int, false, json::value(0), "only events with a larger seq"},
             {"count", ArgType::Int, false, json::value(100), "at most this many (up to 1000)"}},
            {{"events", "array", "[{seq, type, created_at, vault_id, txid, height, data}]"}},
            {"vaultwatch-cli listevents", "vaultwatch-cli listevents 120 50"},
            [engine](const rpc::Args& a) -> Result {
                if (!engine()) return Unexpected{Unavailable()};
                const auto after = a.at("after").to_number<int64_t>();
                const auto count = a.at("count").to_number<int64_t>();
                if (count < 0) return Unexpected{RpcFailure{rpc::RPC_INVALID_PARAMETER, "count must not be negative"}};
                return FromEngine(engine()->ListEvents(after, static_cast<size_t>(count)));
            }});
    // --- webhooks ---------------------------------------------------------------------------
    auto hooks = [c]() -> WebhookControl* { return c->webhooks; };
    auto from_hooks = [](Expected<json::value, WebhookError> r) -> Result {
        if (!r) return Unexpected{RpcFailure{r.error().code, r.error().message}};
        return std::move(*r);
    };
    t->Add({"addwebhook",
            "webhooks",
            "Adds a webhook: every event passing the filter is POSTed to url as signed JSON, at least once, in order "
            "(docs/webhooks.md). The secret keys the Vaultwatch-Signature HMAC; it is stored (0600 database) and never "
            "shown again. Adding a URL that is already registered updates its secret and filter and enables it again.",
            {{"url", ArgType::String, true, std::nullopt, "http:// or https:// endpoint"},
             {"secret", ArgType::String, true, std::nullopt, "HMAC-SHA256 key, at least 16 characters"},
             {"events", ArgType::String, false, json::value("*"), "* or a comma-separated list of event types and families (vault.trigger,recovery.*)"}},
            {{"webhook_id", "string", "the webhook's id"},
             {"url", "string", "the endpoint"},
             {"events", "string", "the filter in force"},
             {"enabled", "boolean", "always true"},
             {"updated", "boolean", "present when the URL was registered before"}},
            {"vaultwatch-cli addwebhook https://alerts.example.com/vw \"$(openssl rand -hex 32)\"",
             "vaultwatch-cli -named addwebhook url=https://alerts.example.com/vw secret=... events=vault.trigger,recovery.*"},
            [hooks, from_hooks](const rpc::Args& a) -> Result {
                if (!hooks()) return Unexpected{Unavailable()};
                return from_hooks(hooks()->Add(Str(a, "url"), Str(a, "secret"), Str(a, "events")));
            }});
    t->Add({"listwebhooks",
            "webhooks",
            "Lists the webhooks (config-file and RPC-added) with their delivery counters. Secrets are never shown.",
            {},
            {{"webhooks", "array", "[{webhook_id, url, events, enabled, source, delivered, failed, pending, oldest_pending: {delivery_id, "
              "attempts, last_status, last_error, next_attempt_at} or null, last_status, last_error, created_at}]"}},
            {"vaultwatch-cli listwebhooks"},
            [hooks](const rpc::Args&) -> Result {
                if (!hooks()) return Unexpected{Unavailable()};
                return hooks()->List();
            }});
    t->Add({"removewebhook",
            "webhooks",
            "Removes an RPC-added webhook and its undelivered events. Hooks from the config file are removed there.",
            {{"webhook_id", ArgType::String, true, std::nullopt, "the webhook's id"}},
            {{"webhook_id", "string", "the webhook's id"}, {"removed", "boolean", "always true"}},
            {"vaultwatch-cli removewebhook wh-0123456789abcdef"},
            [hooks, from_hooks](const rpc::Args& a) -> Result {
                if (!hooks()) return Unexpected{Unavailable()};
                return from_hooks(hooks()->Remove(Str(a, "webhook_id")));
            }});
    t->Add({"testwebhook",
            "webhooks",
            "Sends a webhook.test event to one webhook, ahead of its queue, once (whatever its filter). The outcome shows in "
            "listwebhooks (last_status, last_error) and the log.",
            {{"webhook_id", ArgType::String, true, std::nullopt, "the webhook's id"}},
            {{"webhook_id", "string", "the webhook's id"},
             {"delivery_id", "string", "the test delivery's id (Vaultwatch-Delivery)"},
             {"queued", "boolean", "always true"}},
            {"vaultwatch-cli testwebhook wh-0123456789abcdef"},
            [hooks, from_hooks](const rpc::Args& a) -> Result {
                if (!hooks()) return Unexpected{Unavailable()};
                return from_hooks(hooks()->Test(Str(a, "webhook_id")));
            }});
    return table;
}

} // namespace vw::daemon
