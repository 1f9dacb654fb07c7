#pragma once
// What the engine's stage files share (engine.h declares the class; each engine_*.cpp holds one
// stage of it). Not part of the daemon's interface.

#include "util/check.h"
#include "chain/rpc_replies.h"
#include "log.h"
#include "rpc/table.h"
#include "rpc/vault_json.h"
#include "util/hex.h"

#include <boost/asio/as_tuple.hpp>
#include <boost/asio/co_spawn.hpp>
#include <boost/asio/detached.hpp>
#include <boost/asio/post.hpp>
#include <boost/asio/use_awaitable.hpp>
#include <boost/json.hpp>

#include <algorithm>
#include <array>
#include <atomic>
#include <limits>
#include <set>
#include <thread>
#include <ctime>

namespace vw::daemon::engine_detail {
namespace json = boost::json;

inline std::string_view Hrp(const std::string& chain) { return rpc::HrpForChain(chain).value_or("bc"); }

//! A live recovery may still confirm as it is; a dead one holds no fee coin and answers no
//! trigger: the trigger is planned again with what the chain holds then (vault/lifecycle.h).
inline bool IsLive(const store::RecoveryRow& r) { return vault::IsLive(r.state); }

//! Every change of a recovery's state goes through here: a move the lifecycle does not allow is a
//! bug in the engine, and the tower stops rather than act on a state it cannot explain.
inline void MoveTo(store::RecoveryRow& r, vault::RecoveryState to)
{
    VW_ASSERT(vault::CanMove(r.state, to));
    r.state = to;
}

//! A recovery the operator asked for (recovervault) answers no trigger: its trigger_txid is null.
inline json::value TriggerTxidJson(const Txid& t) { return t.IsNull() ? json::value(nullptr) : json::value(t.ToString()); }

inline json::object RecoveryJson(const store::RecoveryRow& r, bool with_hex)
{
    json::array ids;
    for (const auto& v : r.vault_ids) ids.emplace_back(v);
    json::object o{{"txid", r.txid.ToString()},
                   {"kind", vault::ToString(r.kind)},
                   {"trigger_txid", TriggerTxidJson(r.trigger_txid)},
                   {"vault_ids", std::move(ids)},
                   {"state", vault::ToString(r.state)},
                   {"deadline_height", r.deadline_height ? json::value(*r.deadline_height) : json::value(nullptr)},
                   {"confirmed_height", r.confirmed_height ? json::value(*r.confirmed_height) : json::value(nullptr)},
                   {"attempts", r.attempts},
                   {"last_error", r.last_error},
                   {"created_at", r.created_at}};
    if (with_hex) o["hex"] = HexStr(r.tx);
    return o;
}

inline vault::Approval ToApproval(const store::ApprovalRow& r)
{
    vault::Approval a;
    a.kind = r.kind == "ctv_hash" ? vault::Approval::Kind::CtvHash : vault::Approval::Kind::TriggerTxid;
    a.value = r.value;
    a.expiry_height = r.expiry_height;
    a.revoked = r.revoked;
    return a;
}

} // namespace vw::daemon::engine_detail

namespace vw::daemon {
// Every stage file speaks of these.
namespace net = boost::asio;
namespace json = boost::json;
using vault::EventKind;
using vault::VaultState;
using namespace engine_detail;
} // namespace vw::daemon
