#pragma once
// Shared by the ccv tests: tests/data/testvectors/ccv-regtest.json read at run time, and its
// records turned into library types. Nothing here hard-codes vector data.

#include "crypto/secp.h"
#include "primitives/transaction.h"
#include "util/hex.h"

#include <boost/json.hpp>
#include <gtest/gtest.h>

#include <fstream>
#include <sstream>
#include <string>
#include <vector>

namespace vw::vault::ccv::testutil {

namespace json = boost::json;

inline const json::value& Vectors()
{
    static const json::value v = [] {
        std::ifstream f(std::string(VW_TEST_DATA_DIR) + "/testvectors/ccv-regtest.json");
        std::stringstream ss;
        ss << f.rdbuf();
        return json::parse(ss.str());
    }();
    return v;
}

inline std::string Str(const json::value& v) { return std::string(v.as_string()); }
inline Bytes H(const json::value& v)
{
    auto b = ParseHex(Str(v));
    EXPECT_TRUE(b.has_value()) << Str(v);
    return b.value_or(Bytes{});
}
inline int64_t I(const json::value& v) { return v.to_number<int64_t>(); }
inline crypto::XOnlyPubKey XOnly(const json::value& v) { return crypto::XOnlyPubKey::Parse(H(v)).value(); }
inline Transaction Tx(const json::value& hex) { return DecodeTransactionHex(Str(hex)).value(); }
inline std::vector<TxOut> Prevouts(const json::value& arr)
{
    std::vector<TxOut> r;
    for (const auto& p : arr.as_array()) r.push_back(TxOut{Amount{I(p.at("value_sats"))}, H(p.at("scriptPubKey"))});
    return r;
}

} // namespace vw::vault::ccv::testutil
