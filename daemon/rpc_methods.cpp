#include "rpc_methods.h"

#include <boost/json.hpp>

namespace vw::daemon {
namespace json = boost::json;
using rpc::ArgType;
using rpc::RpcFailure;
using Result = Expected<json::value, RpcFailure>;

namespace {
RpcFailure Unavailable() { return RpcFailure{rpc::RPC_MISC_ERROR, "not available in this process"}; }
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
             {"zmq_restarts", "integer", "ZMQ publisher restarts detected since start"}},
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
    return table;
}

} // namespace vw::daemon
