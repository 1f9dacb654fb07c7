// Decodes real bitcoind v31.0 replies from tests/data/bitcoind-wire/rpc-exchanges.json.
#include "chain/rpc_replies.h"
#include "primitives/block.h"

#include <boost/json.hpp>
#include <gtest/gtest.h>

#include <fstream>
#include <sstream>

namespace vw::chain {
namespace {
namespace json = boost::json;

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

//! The "result" of the named exchange's response body.
json::value Result(std::string_view name)
{
    for (const auto& x : Exchanges()) {
        if (x.at("name").as_string() == name) {
            return json::parse(x.at("response").at("body").as_string()).at("result");
        }
    }
    ADD_FAILURE() << "no exchange named " << name;
    return nullptr;
}

TEST(rpc_replies_tests, BlockchainInfo)
{
    auto info = ParseBlockchainInfo(Result("getblockchaininfo"));
    ASSERT_TRUE(info) << info.error();
    EXPECT_EQ(info->chain, "regtest");
    EXPECT_EQ(info->blocks, info->headers);
    EXPECT_FALSE(info->pruned);
    auto best = ParseBlockHashReply(Result("getbestblockhash"));
    ASSERT_TRUE(best);
    EXPECT_FALSE(best->IsNull());
}

TEST(rpc_replies_tests, BlockHexDecodesToTheRequestedBlock)
{
    auto hex = ParseHexReply(Result("getblock_verbosity_0"));
    ASSERT_TRUE(hex);
    auto block = DecodeBlock(*hex);
    ASSERT_TRUE(block);
    // The verbosity-1 reply of the same block names its hash.
    const auto v1 = Result("getblock_verbosity_1");
    EXPECT_EQ(block->header.GetHash().ToString(), std::string_view{v1.at("hash").as_string()});
    EXPECT_EQ(BlockMerkleRoot(*block), block->header.merkle_root);
}

TEST(rpc_replies_tests, RawMempoolWithSequence)
{
    auto m = ParseRawMempoolSeq(Result("getrawmempool_verbose_false_mempool_sequence_true"));
    ASSERT_TRUE(m) << m.error();
    EXPECT_GT(m->mempool_sequence, 0u);
    // The plain form is just the array of txids; the same node returned both.
    EXPECT_EQ(m->txids.size(), Result("getrawmempool_verbose_false").as_array().size());
    // The plain array is not the sequence form.
    EXPECT_FALSE(ParseRawMempoolSeq(Result("getrawmempool_verbose_false")));
}

TEST(rpc_replies_tests, ZmqNotificationsAndDeployments)
{
    auto z = ParseZmqNotifications(Result("getzmqnotifications"));
    ASSERT_TRUE(z) << z.error();
    for (const auto& n : *z) {
        EXPECT_TRUE(n.type.starts_with("pub"));
        EXPECT_TRUE(n.address.starts_with("tcp://"));
    }
    // Bitcoin Core v31 has no vault deployment: OP_VAULT is not enforced there.
    auto d = ParseDeploymentActive(Result("getdeploymentinfo"), "vault");
    ASSERT_TRUE(d) << d.error();
    EXPECT_FALSE(*d);
    auto taproot = ParseDeploymentActive(Result("getdeploymentinfo"), "taproot");
    ASSERT_TRUE(taproot);
    EXPECT_TRUE(*taproot);
}

TEST(rpc_replies_tests, MalformedRepliesAreErrors)
{
    EXPECT_FALSE(ParseBlockHashReply(json::value(42)));
    EXPECT_FALSE(ParseBlockHashReply(json::value("abcd")));
    EXPECT_FALSE(ParseHexReply(json::value("0g")));
    EXPECT_FALSE(ParseBlockchainInfo(json::value(json::array{})));
    json::value info = Result("getblockchaininfo");
    info.as_object()["blocks"] = "many";
    EXPECT_FALSE(ParseBlockchainInfo(info));
    info = Result("getblockchaininfo");
    info.as_object().erase("bestblockhash");
    EXPECT_FALSE(ParseBlockchainInfo(info));
    EXPECT_FALSE(ParseZmqNotifications(json::value(json::object{})));
    EXPECT_FALSE(ParseDeploymentActive(json::value(json::object{}), "vault"));
    EXPECT_FALSE(ParseRawMempoolSeq(json::parse(R"({"txids":["zz"],"mempool_sequence":1})")));
}

TEST(rpc_replies_tests, SubmitPackageAcceptance)
{
    // v31.0 (recorded): package_msg says it.
    EXPECT_TRUE(PackageAccepted(Result("submitpackage_1parent_1child")));
    EXPECT_TRUE(PackageAccepted(Result("submitpackage_truc_zero_fee_parent")));
    EXPECT_TRUE(PackageAccepted(Result("submitpackage_same_package_again")));
    // v25 (the OP_VAULT prototype, Bitcoin Inquisition 25.1): no package_msg; failure throws.
    EXPECT_TRUE(PackageAccepted(json::parse(R"({"tx-results":{"5d87":{"txid":"5fb5","vsize":139,"fees":{"base":0,"effective-feerate":0.0002}},
                                                               "d910":{"txid":"972c","vsize":111,"fees":{"base":0.0005}}},"replaced-transactions":[]})")));
    EXPECT_FALSE(PackageAccepted(json::parse(R"({"package_msg":"transaction failed","tx-results":{"5d87":{"txid":"5fb5","error":"min relay fee not met"}}})")));
    EXPECT_FALSE(PackageAccepted(json::parse(R"({"tx-results":{"5d87":{"txid":"5fb5","error":"min relay fee not met"}}})")));
    EXPECT_FALSE(PackageAccepted(json::parse(R"({"tx-results":{}})")));
    EXPECT_FALSE(PackageAccepted(json::parse(R"({"package_msg":1})")));
    EXPECT_FALSE(PackageAccepted(json::parse(R"([])")));
    EXPECT_FALSE(PackageAccepted(nullptr));
}

} // namespace
} // namespace vw::chain
