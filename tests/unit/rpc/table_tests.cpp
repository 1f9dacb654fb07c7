// The dispatcher must answer the way bitcoind does: the expectations below are read from the
// real bitcoind v31.0 exchanges in tests/data/bitcoind-wire/rpc-exchanges.json.
#include "rpc/table.h"

#include <boost/json.hpp>
#include <gtest/gtest.h>

#include <fstream>
#include <sstream>

namespace vw::rpc {
namespace {
namespace json = boost::json;

//! with_batch: every method also gets a batch form (its handler, call by call).
RpcTable MakeTable(bool with_batch = false)
{
    RpcTable t;
    t.Add({"getblockcount", "test", "Returns a number.", {}, {}, {}, [](const Args&) -> Expected<json::value, RpcFailure> {
               return json::value(111);
           }});
    t.Add({"getbestblockhash", "test", "Returns a hash.", {}, {}, {}, [](const Args&) -> Expected<json::value, RpcFailure> {
               return json::value(std::string(64, '0'));
           }});
    t.Add({"getblockhash",
           "test",
           "Fails for big heights.",
           {{"height", ArgType::Int, true, std::nullopt, "the height"}},
           {},
           {},
           [](const Args& a) -> Expected<json::value, RpcFailure> {
               if (a.at("height").as_int64() > 200) return Unexpected{RpcFailure{RPC_INVALID_PARAMETER, "Block height out of range"}};
               return json::value("00");
           }});
    t.Add({"echo",
           "test",
           "Echoes its arguments.",
           {{"s", ArgType::String, true, std::nullopt, "a string"},
            {"n", ArgType::Amount, false, json::value(5), "an amount"},
            {"h", ArgType::Hash, false, std::nullopt, "a hash"}},
           {{"s", "string", "the string"}},
           {"vaultwatch-cli echo hi"},
           [](const Args& a) -> Expected<json::value, RpcFailure> {
               json::object o;
               for (const auto& [k, v] : a) o[k] = v;
               return json::value(o);
           }});
    t.Add({"boom", "test", "Throws.", {}, {}, {}, [](const Args&) -> Expected<json::value, RpcFailure> {
               throw std::runtime_error("kaboom");
           }});
    if (!with_batch) return t;
    RpcTable b;
    for (MethodSpec m : t.methods()) {
        m.batch = [h = m.handler](std::span<const Args> calls) {
            std::vector<Expected<json::value, RpcFailure>> out;
            for (const auto& a : calls) out.push_back(h(a));
            return out;
        };
        b.Add(std::move(m));
    }
    return b;
}

const json::array& Exchanges()
{
    static const json::value v = [] {
        std::ifstream f(std::string(VW_TEST_DATA_DIR) + "/bitcoind-wire/rpc-exchanges.json");
        std::stringstream ss;
        ss << f.rdbuf();
        return json::parse(ss.str());
    }();
    return v.as_array();
}

//! Replays a recorded request and compares status and JSON shape (keys, error codes) with
//! bitcoind's reply. Values of results differ (our methods are stand-ins), shapes must not.
void ExpectLikeBitcoind(const RpcTable& t, std::string_view name)
{
    for (const auto& x : Exchanges()) {
        if (x.at("name").as_string() != name) continue;
        const auto body = std::string_view{x.at("request").at("body").as_string()};
        const auto& resp = x.at("response");
        const auto reply = Dispatch(t, body);
        EXPECT_EQ(reply.status, resp.at("status").as_int64()) << name;
        const auto want_body = std::string_view{resp.at("body").as_string()};
        if (want_body.empty()) {
            EXPECT_TRUE(reply.body.empty()) << name;
            return;
        }
        const json::value want = json::parse(want_body);
        const json::value got = json::parse(reply.body);
        auto shape = [](const json::value& v) {
            std::vector<std::string> keys;
            auto add = [&](const json::object& o) {
                std::string k;
                for (const auto& [key, val] : o) {
                    k += std::string(key) + (key == "error" && val.is_object() ? "(" + std::to_string(val.at("code").as_int64()) + ")" : "") + ",";
                }
                keys.push_back(k);
            };
            if (v.is_array()) {
                for (const auto& e : v.as_array()) add(e.as_object());
            } else {
                add(v.as_object());
            }
            return keys;
        };
        EXPECT_EQ(shape(got), shape(want)) << name << "\n got: " << reply.body << " want: " << want_body;
        return;
    }
    ADD_FAILURE() << "no exchange " << name;
}

TEST(table_tests, AnswersLikeBitcoind)
{
    const RpcTable t = MakeTable();
    for (const char* name : {"getblockcount", "method_not_found", "jsonrpc2_method_not_found", "jsonrpc2_notification_no_id",
                             "jsonrpc_3_0_version_rejected", "parse_error_invalid_json", "top_level_not_object_or_array",
                             "method_missing", "params_not_array_or_object", "empty_body", "batch_mixed",
                             "batch_only_notifications", "jsonrpc2_getblockcount", "jsonrpc_1_0_string_id", "jsonrpc_1_0_null_id",
                             "jsonrpc_1_0_no_params", "jsonrpc_2_0_no_params", "jsonrpc_2_0_null_id", "jsonrpc_field_absent_legacy",
                             "jsonrpc_1_1_version_field", "getblockhash_out_of_range", "jsonrpc2_getblockhash_out_of_range",
                             "getblockhash_wrong_param_type", "jsonrpc_2_0_wrong_param_type", "jsonrpc_2_0_named_params"}) {
        ExpectLikeBitcoind(t, name);
    }
}

TEST(table_tests, AnEmptyBatchIsOneInvalidRequestError)
{
    // Here we depart from bitcoind on purpose: it answers `[]` with HTTP 200 and `[]` (the capture
    // says so), where JSON-RPC 2.0 section 6 prescribes a single Invalid Request error.
    bool captured = false;
    for (const auto& x : Exchanges()) {
        if (x.at("name").as_string() != "batch_empty") continue;
        captured = true;
        EXPECT_EQ(x.at("request").at("body").as_string(), "[]");
        EXPECT_EQ(x.at("response").at("body").as_string(), "[]\n");
    }
    EXPECT_TRUE(captured);
    for (const RpcTable& t : {MakeTable(), MakeTable(true)}) {
        for (const char* body : {"[]", " [ ] ", "[]\n"}) {
            const auto reply = Dispatch(t, body);
            EXPECT_EQ(reply.status, 400u) << body;
            const json::value v = json::parse(reply.body);
            ASSERT_TRUE(v.is_object()) << "one error object, not an array: " << reply.body;
            EXPECT_EQ(v.at("error").at("code").as_int64(), RPC_INVALID_REQUEST);
            EXPECT_TRUE(v.at("id").is_null());
            EXPECT_FALSE(v.as_object().contains("result")) << reply.body;
        }
    }
}

TEST(table_tests, ADeferredCallIsAnsweredAsDispatchAnswersIt)
{
    // Every recorded bitcoind exchange: where Defer takes the request (one valid call of a method
    // with a batch form), ReplyTo with the handler's result is byte for byte Dispatch's reply.
    const RpcTable plain = MakeTable(), batched = MakeTable(true);
    size_t deferred = 0, answered_by_dispatch = 0;
    for (const auto& x : Exchanges()) {
        const auto body = std::string_view{x.at("request").at("body").as_string()};
        EXPECT_FALSE(Defer(plain, body)) << "no batch form, nothing deferred";
        auto call = Defer(batched, body);
        if (!call) {
            ++answered_by_dispatch;
            continue;
        }
        ++deferred;
        const auto want = Dispatch(batched, body);
        const auto got = ReplyTo(*call, call->spec->handler(call->args));
        EXPECT_EQ(got.status, want.status) << x.at("name").as_string();
        EXPECT_EQ(got.body, want.body) << x.at("name").as_string();
    }
    EXPECT_GE(deferred, 5u);
    EXPECT_GE(answered_by_dispatch, 5u) << "batches, parse errors, unknown methods and bad params stay with Dispatch";
    EXPECT_FALSE(Defer(batched, R"([{"method":"getblockcount","id":1}])")) << "a JSON-RPC batch is not deferred";
    EXPECT_FALSE(Defer(batched, R"({"method":"getblockhash","params":["x"],"id":1})")) << "arguments that do not bind";
    EXPECT_TRUE(Defer(batched, R"({"jsonrpc":"2.0","method":"getblockhash","params":[300],"id":7})"));
}

TEST(table_tests, BindsPositionalNamedAndDefaults)
{
    const RpcTable t = MakeTable();
    auto r = json::parse(Dispatch(t, R"({"jsonrpc":"2.0","id":1,"method":"echo","params":["x"]})").body);
    EXPECT_EQ(r.at("result").at("s"), "x");
    EXPECT_EQ(r.at("result").at("n"), 5); // default filled
    EXPECT_FALSE(r.at("result").as_object().contains("h"));
    r = json::parse(Dispatch(t, R"({"jsonrpc":"2.0","id":1,"method":"echo","params":{"n":7,"s":"y"}})").body);
    EXPECT_EQ(r.at("result").at("n"), 7);
    EXPECT_EQ(r.at("result").at("s"), "y");
}

TEST(table_tests, ArgumentErrors)
{
    const RpcTable t = MakeTable();
    auto code = [&](std::string_view body) { return json::parse(Dispatch(t, body).body).at("error").at("code").as_int64(); };
    EXPECT_EQ(code(R"({"jsonrpc":"2.0","id":1,"method":"echo","params":[]})"), RPC_INVALID_PARAMS);
    EXPECT_EQ(code(R"({"jsonrpc":"2.0","id":1,"method":"echo","params":["a",1,null,4]})"), RPC_INVALID_PARAMS);
    EXPECT_EQ(code(R"({"jsonrpc":"2.0","id":1,"method":"echo","params":[1]})"), RPC_TYPE_ERROR);
    EXPECT_EQ(code(R"({"jsonrpc":"2.0","id":1,"method":"echo","params":["a",-1]})"), RPC_TYPE_ERROR);
    EXPECT_EQ(code(R"({"jsonrpc":"2.0","id":1,"method":"echo","params":["a",1.5]})"), RPC_TYPE_ERROR);
    EXPECT_EQ(code(R"({"jsonrpc":"2.0","id":1,"method":"echo","params":["a",1,"abcd"]})"), RPC_TYPE_ERROR);
    EXPECT_EQ(code(R"({"jsonrpc":"2.0","id":1,"method":"echo","params":{"s":"a","zz":1}})"), RPC_INVALID_PARAMETER);
    EXPECT_EQ(code(R"({"jsonrpc":"2.0","id":1,"method":"boom"})"), RPC_INTERNAL_ERROR);
    std::string big = "[";
    for (int i = 0; i < 101; ++i) big += std::string(i ? "," : "") + R"({"jsonrpc":"2.0","id":1,"method":"getblockcount"})";
    big += "]";
    const auto reply = Dispatch(t, big);
    EXPECT_EQ(reply.status, 400u);
    EXPECT_EQ(json::parse(reply.body).at("error").at("code").as_int64(), RPC_INVALID_REQUEST);
    // Deep nesting is refused as a parse error, not a stack overflow.
    EXPECT_EQ(Dispatch(t, std::string(100000, '[')).status, 500u);
}

TEST(table_tests, HelpAndMarkdownComeFromTheTable)
{
    const RpcTable t = MakeTable();
    const auto overview = t.HelpOverview();
    EXPECT_NE(overview.find("echo \"s\" ( \"n\" ) ( \"h\" )"), std::string::npos) << overview;
    const auto help = t.HelpFor(*t.Find("echo"));
    EXPECT_NE(help.find("default=5"), std::string::npos);
    EXPECT_NE(help.find("vaultwatch-cli echo hi"), std::string::npos);
    const auto md = t.Markdown();
    EXPECT_NE(md.find("### `echo`"), std::string::npos);
    EXPECT_NE(md.find("| 2 | `n` | amount (integer satoshis) | no | `5` |"), std::string::npos) << md;
}

} // namespace
} // namespace vw::rpc
