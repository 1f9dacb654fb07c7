#pragma once
// Shared by the ccv tests: tests/data/testvectors/ccv-regtest.json read at run time, and its
// records turned into library types. Nothing here hard-codes vector data.

#include "crypto/secp.h"
#include "primitives/transaction.h"
#include "unit/vault/opvault_test_util.h"
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

// The record helpers are the OP_VAULT tests' own (opvault_test_util.h); only the file differs.
using vault::testutil::H;
using vault::testutil::I;
using vault::testutil::Prevouts;
using vault::testutil::Str;
using vault::testutil::Tx;
using vault::testutil::XOnly;

} // namespace vw::vault::ccv::testutil
