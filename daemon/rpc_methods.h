#pragma once
// The control-port methods: one MethodSpec per method, defined once, in rpc_methods.cpp.

#include "control.h"
#include "rpc/table.h"

#include <boost/json/value.hpp>

#include <functional>
#include <memory>

namespace vw::daemon {

//! What the handlers call into. Null members make a method answer RPC_MISC_ERROR ("not
//! available"), so the table can be built without a running daemon (docs, tests, fuzzing).
struct RpcContext {
    std::function<boost::json::value()> getinfo;
    std::function<void()> stop;
    VaultControl* engine{nullptr}; //!< the vault methods
    WebhookControl* webhooks{nullptr}; //!< addwebhook, listwebhooks, removewebhook, testwebhook
};

std::unique_ptr<rpc::RpcTable> MakeRpcTable(RpcContext ctx);

} // namespace vw::daemon
