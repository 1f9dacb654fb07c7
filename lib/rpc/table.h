#pragma once
// The self-describing JSON-RPC method table (model: Bitcoin Core RPCHelpMan). Each method is
// defined once: name, arguments (type, default, doc), result doc, examples, handler. From that
// one definition come `help`, argument checking (positional and named), the JSON-RPC dispatch,
// and docs/rpc.md.

#include "util/expected.h"

#include <boost/json/value.hpp>

#include <functional>
#include <map>
#include <optional>
#include <span>
#include <string>
#include <string_view>
#include <vector>

namespace vw::rpc {

//! JSON-RPC / bitcoind error codes used on the control port.
enum ErrorCode : int {
    RPC_MISC_ERROR = -1,
    RPC_TYPE_ERROR = -3,
    RPC_NOT_FOUND = -5,        //!< unknown vault id, recovery id, webhook id, ...
    RPC_INVALID_PARAMETER = -8,
    RPC_NODE_ERROR = -9,       //!< the action needs the node, which is unreachable or refuses
    RPC_IN_WARMUP = -28,
    RPC_INVALID_REQUEST = -32600,
    RPC_METHOD_NOT_FOUND = -32601,
    RPC_INVALID_PARAMS = -32602,
    RPC_INTERNAL_ERROR = -32603,
    RPC_PARSE_ERROR = -32700,
};

struct RpcFailure {
    int code{RPC_MISC_ERROR};
    std::string message;
};

enum class ArgType {
    String,
    Int,      //!< a JSON integer
    Amount,   //!< integer satoshis, 0 <= x <= 21e14
    Bool,
    Object,
    Array,
    Hex,      //!< a string of an even number of hex digits
    Hash,     //!< 64 hex digits
    Any,
};
std::string_view ToString(ArgType t);

struct ArgSpec {
    std::string name;
    ArgType type{ArgType::String};
    bool required{true};
    std::optional<boost::json::value> default_value; //!< filled in when the argument is omitted
    std::string doc;
};

struct ResultField {
    std::string name;
    std::string type;
    std::string doc;
};

//! Arguments after binding: every declared argument by name (omitted optional arguments are
//! absent, or hold their default).
using Args = std::map<std::string, boost::json::value, std::less<>>;
using Handler = std::function<Expected<boost::json::value, RpcFailure>(const Args&)>;
//! Runs several calls of one method together (one per element, results in the same order), with
//! the same results as the handler called for each in turn.
using BatchHandler = std::function<std::vector<Expected<boost::json::value, RpcFailure>>(std::span<const Args>)>;

struct MethodSpec {
    std::string name;
    std::string category;
    std::string description;
    std::vector<ArgSpec> args;
    std::vector<ResultField> result; //!< every result is an object; these are its fields
    std::vector<std::string> examples;
    Handler handler;
    //! Optional: lets the server answer concurrent calls together (registervault: one SQLite
    //! commit, one fsync, for every registration that arrived meanwhile).
    BatchHandler batch{};
};

class RpcTable
{
public:
    //! Adds a method; names must be unique (a duplicate is a programming error: asserts).
    void Add(MethodSpec spec);
    const MethodSpec* Find(std::string_view name) const;
    const std::vector<MethodSpec>& methods() const { return m_methods; }

    //! Binds params (array = positional, object = named, null/absent = none) to spec's args,
    //! checking count, names and types, filling defaults.
    static Expected<Args, RpcFailure> Bind(const MethodSpec& spec, const boost::json::value* params);

    //! `help` with no argument: one line per method, by category.
    std::string HelpOverview() const;
    //! `help <method>`.
    std::string HelpFor(const MethodSpec& spec) const;
    //! The whole reference as Markdown (docs/rpc.md).
    std::string Markdown() const;

private:
    std::vector<MethodSpec> m_methods;
};

//! An HTTP reply for a JSON-RPC request body.
struct HttpReply {
    unsigned status{200};
    std::string body; //!< empty for 204
};

struct DispatchLimits {
    size_t max_batch{100};
};

//! A single request to a method with a batch form, parsed and bound, to be run together with
//! others (MethodSpec::batch) and answered by ReplyTo.
struct DeferredCall {
    const MethodSpec* spec{nullptr};
    Args args;
    boost::json::value id;
    bool v2{false};
    bool notification{false};
};
//! Returns: the call when body is one valid request to a method with a batch form whose
//! arguments bind; nullopt for anything else (Dispatch answers it, errors included).
std::optional<DeferredCall> Defer(const RpcTable& table, std::string_view body);
//! Returns: the HTTP reply Dispatch would give for call's body had its handler returned result.
HttpReply ReplyTo(const DeferredCall& call, Expected<boost::json::value, RpcFailure> result);

//! Parses a request body (single request or batch) and runs it against table. Follows
//! bitcoind's observable behaviour: JSON-RPC 2.0 requests get HTTP 200 (204 for notifications)
//! and only one of result/error; legacy 1.x requests get both members and HTTP 500/400/404 on
//! errors. Handler exceptions are caught and reported as internal errors.
HttpReply Dispatch(const RpcTable& table, std::string_view body, const DispatchLimits& limits = {});

} // namespace vw::rpc
