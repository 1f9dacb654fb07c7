// bitcoind RPC replies: any bytes as a JSON document, through every reply decoder.
#include "chain/rpc_replies.h"

#include <boost/json.hpp>

#include <cstddef>
#include <cstdint>
#include <string_view>

extern "C" int LLVMFuzzerTestOneInput(const uint8_t* data, size_t size)
{
    using namespace vw::chain;
    boost::system::error_code ec;
    const boost::json::value v = boost::json::parse(std::string_view{reinterpret_cast<const char*>(data), size}, ec);
    if (ec) return 0;
    (void)ParseBlockHashReply(v);
    (void)ParseTxidReply(v);
    (void)ParseHexReply(v);
    (void)ParseBlockchainInfo(v);
    (void)ParseRawMempoolSeq(v);
    (void)ParseZmqNotifications(v);
    (void)ParseDeploymentActive(v, "vault");
    (void)ParseTestMempoolAccept(v);
    return 0;
}
