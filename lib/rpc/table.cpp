#include "rpc/table.h"

#include "util/check.h"
#include "util/hex.h"

#include <boost/json.hpp>

#include <sstream>
#include <variant>

namespace vw::rpc {
namespace json = boost::json;

std::string_view ToString(ArgType t)
{
    switch (t) {
    case ArgType::String: return "string";
    case ArgType::Int: return "integer";
    case ArgType::Amount: return "amount (integer satoshis)";
    case ArgType::Bool: return "boolean";
    case ArgType::Object: return "object";
    case ArgType::Array: return "array";
    case ArgType::Hex: return "hex string";
    case ArgType::Hash: return "hex string (32 bytes)";
    case ArgType::Any: return "any";
    }
    return "?";
}

void RpcTable::Add(MethodSpec spec)
{
    VW_ASSERT(Find(spec.name) == nullptr);
    m_methods.push_back(std::move(spec));
}

const MethodSpec* RpcTable::Find(std::string_view name) const
{
    for (const auto& m : m_methods) {
        if (m.name == name) return &m;
    }
    return nullptr;
}

namespace {

std::string JsonTypeName(const json::value& v)
{
    switch (v.kind()) {
    case json::kind::null: return "null";
    case json::kind::bool_: return "boolean";
    case json::kind::int64:
    case json::kind::uint64: return "integer";
    case json::kind::double_: return "number";
    case json::kind::string: return "string";
    case json::kind::array: return "array";
    case json::kind::object: return "object";
    }
    return "?";
}

std::optional<std::string> CheckType(const ArgSpec& a, const json::value& v)
{
    auto wrong = [&] {
        return std::optional<std::string>{"argument '" + a.name + "' must be " + std::string{ToString(a.type)} + ", got " +
                                          JsonTypeName(v)};
    };
    switch (a.type) {
    case ArgType::Any: return std::nullopt;
    case ArgType::String: return v.is_string() ? std::nullopt : wrong();
    case ArgType::Bool: return v.is_bool() ? std::nullopt : wrong();
    case ArgType::Object: return v.is_object() ? std::nullopt : wrong();
    case ArgType::Array: return v.is_array() ? std::nullopt : wrong();
    case ArgType::Int:
        if (v.is_uint64()) return "argument '" + a.name + "' is out of range (at most 9223372036854775807)"; // Boost.JSON: only above INT64_MAX
        return v.is_int64() ? std::nullopt : wrong();
    case ArgType::Amount: {
        if (!v.is_int64()) return v.is_uint64() || v.is_double() ? std::optional<std::string>{"argument '" + a.name + "' must be an integer number of satoshis between 0 and 2100000000000000"} : wrong();
        const int64_t x = v.as_int64();
        if (x < 0 || x > 2'100'000'000'000'000LL) {
            return "argument '" + a.name + "' must be an integer number of satoshis between 0 and 2100000000000000";
        }
        return std::nullopt;
    }
    case ArgType::Hex:
    case ArgType::Hash: {
        if (!v.is_string()) return wrong();
        const auto s = std::string_view{v.as_string()};
        if (!ParseHex(s)) return "argument '" + a.name + "' must be hex";
        if (a.type == ArgType::Hash && s.size() != 64) return "argument '" + a.name + "' must be 64 hex characters";
        return std::nullopt;
    }
    }
    return std::nullopt;
}

} // namespace

Expected<Args, RpcFailure> RpcTable::Bind(const MethodSpec& spec, const json::value* params)
{
    Args out;
    auto put = [&](const ArgSpec& a, const json::value& v) -> std::optional<RpcFailure> {
        if (v.is_null() && !a.required) return std::nullopt; // null == omitted, as in bitcoind
        if (auto err = CheckType(a, v)) return RpcFailure{RPC_TYPE_ERROR, *err};
        out.emplace(a.name, v);
        return std::nullopt;
    };
    if (params && params->is_array()) {
        const auto& arr = params->as_array();
        if (arr.size() > spec.args.size()) {
            return Unexpected{RpcFailure{RPC_INVALID_PARAMS, spec.name + " takes at most " + std::to_string(spec.args.size()) +
                                                                 " argument(s), got " + std::to_string(arr.size())}};
        }
        for (size_t i = 0; i < arr.size(); ++i) {
            if (auto f = put(spec.args[i], arr[i])) return Unexpected{*f};
        }
    } else if (params && params->is_object()) {
        for (const auto& kv : params->as_object()) {
            // Not a structured binding: clang 14 (fuzz build) can not capture one in the lambda.
            const auto& k = kv.key();
            const auto& v = kv.value();
            const auto it = std::find_if(spec.args.begin(), spec.args.end(), [&](const ArgSpec& a) { return a.name == k; });
            if (it == spec.args.end()) {
                return Unexpected{RpcFailure{RPC_INVALID_PARAMETER, "unknown named parameter '" + std::string(k) + "'"}};
            }
            if (auto f = put(*it, v)) return Unexpected{*f};
        }
    } else if (params && !params->is_null()) {
        return Unexpected{RpcFailure{RPC_INVALID_REQUEST, "Params must be an array or object"}};
    }
    for (const auto& a : spec.args) {
        if (out.count(a.name)) continue;
        if (a.required) return Unexpected{RpcFailure{RPC_INVALID_PARAMS, "missing required argument '" + a.name + "'"}};
        if (a.default_value) out.emplace(a.name, *a.default_value);
    }
    return out;
}

std::string RpcTable::HelpOverview() const
{
    std::map<std::string, std::vector<const MethodSpec*>> by_cat;
    for (const auto& m : m_methods) by_cat[m.category].push_back(&m);
    std::ostringstream os;
    for (const auto& [cat, ms] : by_cat) {
        os << "== " << cat << " ==\n";
        for (const auto* m : ms) {
            os << m->name;
            for (const auto& a : m->args) os << (a.required ? " \"" + a.name + "\"" : " ( \"" + a.name + "\" )");
            os << "\n";
        }
        os << "\n";
    }
    std::string s = os.str();
    if (!s.empty()) s.pop_back();
    return s;
}

std::string RpcTable::HelpFor(const MethodSpec& m) const
{
    std::ostringstream os;
    os << m.name;
    for (const auto& a : m.args) os << (a.required ? " \"" + a.name + "\"" : " ( \"" + a.name + "\" )");
    os << "\n\n" << m.description << "\n";
    if (!m.args.empty()) {
        os << "\nArguments:\n";
        for (size_t i = 0; i < m.args.size(); ++i) {
            const auto& a = m.args[i];
            os << i + 1 << ". " << a.name << " (" << ToString(a.type) << ", " << (a.required ? "required" : "optional");
            if (a.default_value) os << ", default=" << json::serialize(*a.default_value);
            os << ") " << a.doc << "\n";
        }
    }
    if (!m.result.empty()) {
        os << "\nResult (object):\n";
        for (const auto& f : m.result) os << "  " << f.name << " (" << f.type << ") " << f.doc << "\n";
    }
    if (!m.examples.empty()) {
        os << "\nExamples:\n";
        for (const auto& e : m.examples) os << "> " << e << "\n";
    }
    return os.str();
}

std::string RpcTable::Markdown() const
{
    std::ostringstream os;
    os << "# vaultwatchd control RPC reference\n\n"
       << "Generated from the method table in `daemon/rpc_methods.cpp` (do not edit by hand: run\n"
       << "`vaultwatchd --rpc-docs > docs/rpc.md`; a test fails when this file is stale).\n\n"
       << "JSON-RPC 2.0 over HTTP POST (1.0-style requests are answered as bitcoind answers them),\n"
       << "HTTP Basic auth with the cookie `<datadir>/.cookie` or `rpcauth` credentials. Amounts are\n"
       << "integer satoshis; every result is an object; fields are snake_case. Errors:\n\n"
       << "| code | meaning |\n|---|---|\n"
       << "| -32700 | body is not valid JSON |\n| -32600 | invalid request (no method, params not array/object, an empty batch, batch too large) |\n"
       << "| -32601 | method not found |\n| -32602 | wrong number of arguments, missing required argument |\n"
       << "| -3 | argument of the wrong type |\n| -8 | invalid argument value |\n| -5 | no such vault / recovery / webhook |\n"
       << "| -9 | the node is needed and unreachable or refused |\n| -32603 | internal error |\n\n";
    std::map<std::string, std::vector<const MethodSpec*>> by_cat;
    for (const auto& m : m_methods) by_cat[m.category].push_back(&m);
    for (const auto& [cat, ms] : by_cat) {
        os << "## " << cat << "\n\n";
        for (const auto* m : ms) {
            os << "### `" << m->name << "`\n\n" << m->description << "\n\n";
            if (!m->args.empty()) {
                os << "| # | argument | type | required | default | description |\n|---|---|---|---|---|---|\n";
                for (size_t i = 0; i < m->args.size(); ++i) {
                    const auto& a = m->args[i];
                    os << "| " << i + 1 << " | `" << a.name << "` | " << ToString(a.type) << " | " << (a.required ? "yes" : "no")
                       << " | " << (a.default_value ? "`" + json::serialize(*a.default_value) + "`" : "") << " | " << a.doc << " |\n";
                }
                os << "\n";
            }
            if (!m->result.empty()) {
                os << "Result fields:\n\n| field | type | description |\n|---|---|---|\n";
                for (const auto& f : m->result) os << "| `" << f.name << "` | " << f.type << " | " << f.doc << " |\n";
                os << "\n";
            }
            if (!m->examples.empty()) {
                os << "```\n";
                for (const auto& e : m->examples) os << e << "\n";
                os << "```\n\n";
            }
        }
    }
    return os.str();
}

namespace {

struct Outcome {
    json::value response; //!< null for a JSON-RPC 2.0 notification
    int error_code{0};    //!< for the legacy HTTP status
};

Outcome Respond(const json::value& id, bool v2, bool notification, std::optional<json::value> result, std::optional<RpcFailure> err)
{
    json::object o;
    if (v2) o["jsonrpc"] = "2.0";
    if (err) {
        if (!v2) o["result"] = nullptr;
        o["error"] = json::object{{"code", err->code}, {"message", err->message}};
    } else {
        o["result"] = result ? std::move(*result) : json::value(nullptr);
        if (!v2) o["error"] = nullptr;
    }
    o["id"] = id;
    Outcome out{json::value(std::move(o)), err ? err->code : 0};
    if (notification) out.response = nullptr;
    return out;
}

Outcome Finish(const DeferredCall& c, Expected<json::value, RpcFailure> r)
{
    return r ? Respond(c.id, c.v2, c.notification, std::move(*r), std::nullopt) : Respond(c.id, c.v2, c.notification, std::nullopt, r.error());
}

//! A request checked and bound to its method, or the reply that ends it here.
std::variant<Outcome, DeferredCall> BindOne(const RpcTable& table, const json::value& req)
{
    json::value id = nullptr;
    bool v2 = false;
    bool is_notification = false;
    auto fail = [&](RpcFailure f) { return Respond(id, v2, is_notification, std::nullopt, std::move(f)); };
    if (!req.is_object()) return fail(RpcFailure{RPC_INVALID_REQUEST, "Invalid Request object"});
    const auto& obj = req.as_object();
    if (const auto* i = obj.if_contains("id")) id = *i;
    if (const auto* ver = obj.if_contains("jsonrpc")) {
        if (ver->is_string() && ver->as_string() == "2.0") {
            v2 = true;
            is_notification = obj.if_contains("id") == nullptr;
        } else if (!(ver->is_string() && (ver->as_string() == "1.0" || ver->as_string() == "1.1"))) {
            return fail(RpcFailure{RPC_INVALID_REQUEST, "JSON-RPC version not supported"});
        }
    }
    const auto* method = obj.if_contains("method");
    if (!method) return fail(RpcFailure{RPC_INVALID_REQUEST, "Missing method"});
    if (!method->is_string()) return fail(RpcFailure{RPC_INVALID_REQUEST, "Method must be a string"});
    const auto* params = obj.if_contains("params");
    if (params && !params->is_array() && !params->is_object() && !params->is_null()) {
        return fail(RpcFailure{RPC_INVALID_REQUEST, "Params must be an array or object"});
    }
    const MethodSpec* spec = table.Find(std::string_view{method->as_string()});
    if (!spec || !spec->handler) return fail(RpcFailure{RPC_METHOD_NOT_FOUND, "Method not found"});
    auto args = RpcTable::Bind(*spec, params);
    if (!args) return fail(args.error());
    return DeferredCall{spec, std::move(*args), id, v2, is_notification};
}

Outcome HandleOne(const RpcTable& table, const json::value& req)
{
    auto bound = BindOne(table, req);
    if (auto* done = std::get_if<Outcome>(&bound)) return std::move(*done);
    const auto& call = std::get<DeferredCall>(bound);
    try {
        return Finish(call, call.spec->handler(call.args));
    } catch (const std::exception& e) {
        return Finish(call, Unexpected{RpcFailure{RPC_INTERNAL_ERROR, std::string("internal error: ") + e.what()}});
    }
}

unsigned LegacyStatus(int code)
{
    if (code == 0) return 200;
    if (code == RPC_INVALID_REQUEST) return 400;
    if (code == RPC_METHOD_NOT_FOUND) return 404;
    return 500;
}

HttpReply SingleReply(const Outcome& out)
{
    if (out.response.is_null()) return HttpReply{204, ""};
    const bool v2 = out.response.as_object().contains("jsonrpc");
    return HttpReply{v2 ? 200u : LegacyStatus(out.error_code), json::serialize(out.response) + "\n"};
}

} // namespace

HttpReply Dispatch(const RpcTable& table, std::string_view body, const DispatchLimits& limits)
{
    auto parse_error = [](const char* msg) {
        json::object o{{"result", nullptr}, {"error", json::object{{"code", RPC_PARSE_ERROR}, {"message", msg}}}, {"id", nullptr}};
        return HttpReply{500, json::serialize(o) + "\n"};
    };
    boost::system::error_code ec;
    json::parse_options opts;
    opts.max_depth = 64;
    json::value req = json::parse(body, ec, {}, opts);
    if (ec) return parse_error("Parse error");
    if (req.is_array()) {
        const auto& arr = req.as_array();
        if (arr.empty()) {
            // JSON-RPC 2.0 section 6: an empty batch is answered with one Invalid Request error.
            json::object o{{"jsonrpc", "2.0"}, {"error", json::object{{"code", RPC_INVALID_REQUEST}, {"message", "empty batch"}}}, {"id", nullptr}};
            return HttpReply{400, json::serialize(o) + "\n"};
        }
        if (arr.size() > limits.max_batch) {
            json::object o{{"result", nullptr},
                           {"error", json::object{{"code", RPC_INVALID_REQUEST},
                                                  {"message", "batch of " + std::to_string(arr.size()) + " requests exceeds the limit of " +
                                                                  std::to_string(limits.max_batch)}}},
                           {"id", nullptr}};
            return HttpReply{400, json::serialize(o) + "\n"};
        }
        json::array replies;
        for (const auto& r : arr) {
            auto out = HandleOne(table, r);
            if (!out.response.is_null()) replies.push_back(std::move(out.response));
        }
        if (replies.empty()) return HttpReply{204, ""};
        return HttpReply{200, json::serialize(replies) + "\n"};
    }
    if (!req.is_object()) return parse_error("Top-level object parse error");
    return SingleReply(HandleOne(table, req));
}

std::optional<DeferredCall> Defer(const RpcTable& table, std::string_view body)
{
    boost::system::error_code ec;
    json::parse_options opts;
    opts.max_depth = 64;
    json::value req = json::parse(body, ec, {}, opts);
    if (ec || !req.is_object()) return std::nullopt;
    auto bound = BindOne(table, req);
    auto* call = std::get_if<DeferredCall>(&bound);
    if (!call || !call->spec->batch) return std::nullopt;
    return std::move(*call);
}

HttpReply ReplyTo(const DeferredCall& call, Expected<json::value, RpcFailure> result) { return SingleReply(Finish(call, std::move(result))); }

} // namespace vw::rpc
