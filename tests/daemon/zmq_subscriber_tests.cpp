// The ZMQ subscriber under a flood: what it holds is bounded (messages and bytes waiting for the
// chain executor), the overflow is reported once so the follower reconciles, oversized parts are
// refused, and it delivers again once the executor catches up.
#include "zmq_subscriber.h"

#include <boost/asio/io_context.hpp>
#include <gtest/gtest.h>
#include <zmq.hpp>
#include <zmq_addon.hpp>

#include <array>
#include <chrono>
#include <thread>

namespace vw::daemon {
namespace {
using namespace std::chrono_literals;

//! One bitcoind-framed message: topic, body, 4-byte little-endian sequence.
void Publish(zmq::socket_t& pub, const std::string& topic, size_t body_bytes, uint32_t seq)
{
    const std::string body(body_bytes, '\x01');
    std::array<zmq::const_buffer, 3> parts{zmq::buffer(topic), zmq::buffer(body), zmq::buffer(&seq, 4)};
    zmq::send_multipart(pub, parts);
}

bool Eventually(const std::function<bool()>& pred)
{
    const auto end = std::chrono::steady_clock::now() + 10s;
    while (std::chrono::steady_clock::now() < end) {
        if (pred()) return true;
        std::this_thread::sleep_for(5ms);
    }
    return pred();
}

TEST(zmq_subscriber_tests, AFloodIsBoundedReportedOnceAndSurvived)
{
    zmq::context_t ctx;
    zmq::socket_t pub{ctx, zmq::socket_type::pub};
    pub.set(zmq::sockopt::sndhwm, 0);
    pub.bind("tcp://127.0.0.1:*");
    const std::string ep = pub.get(zmq::sockopt::last_endpoint);

    boost::asio::io_context io; // not run while the flood arrives: the chain thread is "busy"
    size_t delivered = 0;
    std::vector<std::string> bad;
    ZmqLimits limits;
    limits.max_pending = 50;
    limits.max_pending_bytes = 1 << 20;
    limits.max_message_bytes = 64 * 1024;
    ZmqSubscriber sub{io.get_executor(), {{ep, {"hashblock"}}}, [&](const std::string&, chain::ZmqMessage) { ++delivered; },
                      [&](const std::string&, std::string why) { bad.push_back(why); }, limits};
    auto run_chain_thread = [&] {
        io.restart(); // poll() leaves the context stopped once it runs out of work
        io.poll();
    };
    sub.Start();
    // The slow joiner: publish until the subscription is live.
    ASSERT_TRUE(Eventually([&] {
        Publish(pub, "hashblock", 32, 0);
        return sub.received() > 0;
    }));
    std::this_thread::sleep_for(300ms); // probes still in flight arrive before the count is taken
    run_chain_thread();
    delivered = 0;
    const uint64_t before_flood = sub.received(); // received() counts every message, dropped or not
    const uint64_t dropped_before = sub.dropped();
    for (uint32_t i = 1; i <= 500; ++i) Publish(pub, "hashblock", 32, i);
    ASSERT_TRUE(Eventually([&] { return sub.received() >= before_flood + 500; }))
        << "received " << sub.received() - before_flood << ", dropped " << sub.dropped();
    // Held at most max_pending; the rest dropped and reported once.
    run_chain_thread();
    EXPECT_LE(delivered, limits.max_pending);
    EXPECT_GE(sub.dropped() - dropped_before, 500 - limits.max_pending);
    ASSERT_EQ(bad.size(), 1u);
    EXPECT_NE(bad[0].find("receive queue full"), std::string::npos);

    // The executor caught up: messages flow again, and a new overflow would be reported anew.
    delivered = 0;
    for (uint32_t i = 501; i <= 510; ++i) Publish(pub, "hashblock", 32, i);
    ASSERT_TRUE(Eventually([&] {
        run_chain_thread();
        return delivered == 10;
    }));
    EXPECT_EQ(bad.size(), 1u);

    // A part larger than max_message_bytes never reaches us: libzmq drops the connection and, as
    // for any protocol error, would never reconnect; the subscriber replaces the socket, so what
    // follows still arrives.
    const uint64_t before = sub.received();
    Publish(pub, "hashblock", 128 * 1024, 511);
    std::this_thread::sleep_for(200ms);
    EXPECT_EQ(sub.received(), before);
    delivered = 0;
    ASSERT_TRUE(Eventually([&] {
        Publish(pub, "hashblock", 32, 512);
        run_chain_thread();
        return delivered > 0;
    }));
    EXPECT_GE(sub.reopened(), 1u);
    EXPECT_NE(bad.back().find("disconnected"), std::string::npos) << "the follower is told, and resyncs";
    sub.Stop();
}

TEST(zmq_subscriber_tests, AStopRightAfterTheStartDoesNotHang)
{
    // The daemon may be told to stop (SIGTERM) while its ZMQ thread is still setting up: the
    // thread must see it even if the wake-up message found no one to receive it.
    boost::asio::io_context io;
    for (int i = 0; i < 50; ++i) {
        ZmqSubscriber sub{io.get_executor(), {{"tcp://127.0.0.1:9", {"rawtx"}}, {"tcp://127.0.0.1:9", {"sequence"}}},
                          [](const std::string&, chain::ZmqMessage) {}, [](const std::string&, std::string) {}};
        const auto t0 = std::chrono::steady_clock::now();
        sub.Start();
        sub.Stop();
        ASSERT_LT(std::chrono::steady_clock::now() - t0, 5s) << "round " << i;
    }
}

} // namespace
} // namespace vw::daemon
