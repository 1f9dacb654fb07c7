#pragma once
// What the control port calls into, as interfaces: the RPC method table (rpc_methods.*) depends
// on these and not on the engine or the webhook dispatcher, so it builds and fuzzes on its own
// (tests/fuzz/fuzz_rpc_request.cpp links it without the daemon's I/O).

#include "primitives/hash_types.h"
#include "util/expected.h"
#include "vault/registry.h"

#include <boost/json/array.hpp>
#include <boost/json/object.hpp>
#include <boost/json/value.hpp>

#include <cstddef>
#include <cstdint>
#include <optional>
#include <string>

namespace vw::daemon {

struct EngineError {
    int code{0};          //!< rpc::ErrorCode
    std::string message;  //!< operator-facing
};

struct WebhookError {
    int code{0};          //!< rpc::ErrorCode
    std::string message;
};

//! The vault methods (implemented by Engine; every call on the io thread). Ids arrive parsed: the
//! RPC table refuses a malformed one before it gets here.
class VaultControl
{
public:
    virtual ~VaultControl() = default;
    using Result = Expected<boost::json::value, EngineError>;
    virtual Result RegisterVault(const boost::json::object& params) = 0;
    virtual Result RegisterVaults(const boost::json::array& requests) = 0;
    virtual Result GetVault(const vault::VaultId& vault_id) const = 0;
    virtual boost::json::value ListVaults(const std::optional<std::string>& state) const = 0;
    virtual Result RemoveVault(const vault::VaultId& vault_id) = 0;
    virtual Result SetPolicy(const vault::VaultId& vault_id, const boost::json::value& policy) = 0;
    virtual Result ApproveTrigger(const vault::VaultId& vault_id, const boost::json::object& approval) = 0;
    virtual Result ListApprovals(const vault::VaultId& vault_id) const = 0;
    virtual Result RevokeApproval(int64_t approval_id) = 0;
    virtual boost::json::value ListRecoveries(const std::optional<vault::VaultId>& vault_id) const = 0;
    virtual Result GetRecovery(const Txid& txid) const = 0;
    //! The operator's panic button: sweep every live UTXO of the vault now, whatever its policy.
    virtual Result RecoverVault(const vault::VaultId& vault_id) = 0;
    //! Reads the blocks from from_height to the tip again for one vault (or all), in the background.
    virtual Result Rescan(int from_height, const std::optional<vault::VaultId>& vault_id) = 0;
    //! The fee wallet: address, balance, coins, coverage.
    //! feerate_sat_per_kvb: the rate to size the reserve at (default: the rate a recovery would pay now).
    virtual Result GetFeeWallet(std::optional<int64_t> feerate_sat_per_kvb) const = 0;
    virtual Result ListEvents(int64_t after_seq, size_t limit) const = 0;
    //! A vault family (vault/family.h): its members registered a gap limit ahead of the highest
    //! one used, and more as deposits come.
    virtual Result RegisterFamily(const boost::json::object& params) = 0;
    //! opvault-demo's config.json as a family (and the recovery-auth secret from its phrase).
    virtual Result ImportVaultWallet(const boost::json::object& params) = 0;
    virtual boost::json::value ListFamilies() const = 0;
};

//! The webhook methods (implemented by WebhookDispatcher; on the io thread).
class WebhookControl
{
public:
    virtual ~WebhookControl() = default;
    using Result = Expected<boost::json::value, WebhookError>;
    virtual Result Add(const std::string& url, const std::string& secret, const std::string& events) = 0;
    virtual boost::json::value List() const = 0;
    virtual Result Remove(const std::string& id) = 0;
    virtual Result Test(const std::string& id) = 0;
};

} // namespace vw::daemon
