// The ZMQ subscriber, read on the chain executor's thread: under a flood what waits is bounded
// (inside libzmq, by the HWMs), oversized parts are refused and the socket replaced, it delivers
// again once the executor is back, and nothing runs after a stop.
#include "zmq_subscriber.h"

#include "file_perms.h"

#include <boost/asio/io_context.hpp>
#include <gtest/gtest.h>
#include <zmq.hpp>
#include <zmq_addon.hpp>

#include <algorithm>
#include <array>
#include <cstdint>
#include <chrono>
#include <filesystem>
#include <mutex>
#include <thread>

#include <sys/stat.h>
#include <unistd.h>

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

TEST(zmq_subscriber_tests, AFloodWaitsInsideLibzmqBoundedAndIsSurvived)
{
    zmq::context_t ctx;
    zmq::socket_t pub{ctx, zmq::socket_type::pub};
    pub.set(zmq::sockopt::sndhwm, 10); // bitcoind's zmqpub*hwm, small
    pub.set(zmq::sockopt::sndbuf, 64 * 1024);
    pub.bind("tcp://127.0.0.1:*");
    const std::string ep = pub.get(zmq::sockopt::last_endpoint);

    boost::asio::io_context io; // not run while the flood arrives: the chain thread is "busy"
    std::vector<uint32_t> delivered;
    std::vector<std::string> bad;
    ZmqLimits limits;
    limits.receive_hwm = 10;
    limits.max_message_bytes = 128 * 1024;
    limits.batch = 4;
    ZmqSubscriber sub{io.get_executor(), {{ep, {"rawtx"}}}, [&](const std::string&, chain::ZmqMessage m, ZmqArrival) { delivered.push_back(m.sequence); },
                      [&](const std::string&, std::string why) { bad.push_back(why); }, limits};
    auto run_chain_thread = [&] {
        io.restart(); // poll() leaves the context stopped once it runs out of work
        io.poll();
    };
    // Until nothing more arrives: what libzmq and the kernel held is all handed over.
    auto run_until_quiet = [&] {
        size_t n = SIZE_MAX;
        while (n != delivered.size()) {
            n = delivered.size();
            std::this_thread::sleep_for(100ms);
            run_chain_thread();
        }
    };
    sub.Start();
    // The slow joiner: publish until the subscription is live.
    ASSERT_TRUE(Eventually([&] {
        Publish(pub, "rawtx", 32, 0);
        run_chain_thread();
        return !delivered.empty();
    }));
    run_until_quiet();
    delivered.clear();
    const uint64_t before_flood = sub.received();

    // 500 messages of 64 KiB (32 MB) while nobody reads: what waits is bounded by the two HWMs
    // and the socket buffers, the publisher drops the rest (never blocking), and the sequence
    // numbers show the gap the follower reconciles by RPC.
    for (uint32_t i = 1; i <= 500; ++i) Publish(pub, "rawtx", 64 * 1024, i);
    std::this_thread::sleep_for(300ms);
    run_until_quiet();
    EXPECT_EQ(sub.received() - before_flood, delivered.size());
    EXPECT_GT(delivered.size(), 0u);
    EXPECT_LT(delivered.size(), 250u) << "held far more than the HWMs allow";
    EXPECT_TRUE(std::is_sorted(delivered.begin(), delivered.end())) << "in order";
    EXPECT_TRUE(bad.empty());
    // What the follower sees: the last number before the flood (0), what got through, then 501.
    // Which of the 500 get through is the publisher's and the kernel's timing (a slot freed in
    // the pipe lets a late one in, even the 500th), so the gap may be anywhere, not only at the end.
    std::vector<uint32_t> seen{0};
    seen.insert(seen.end(), delivered.begin(), delivered.end());

    // The chain thread is back: messages flow again, a few per turn of the executor.
    delivered.clear();
    for (uint32_t i = 501; i <= 510; ++i) Publish(pub, "rawtx", 32, i);
    size_t most_in_one_turn = 0;
    ASSERT_TRUE(Eventually([&] {
        const size_t before_turn = delivered.size();
        io.restart();
        io.run_one(); // one handler at a time
        most_in_one_turn = std::max(most_in_one_turn, delivered.size() - before_turn);
        return delivered.size() == 10;
    }));
    EXPECT_LE(most_in_one_turn, 4u) << "at most ZmqLimits::batch per turn: other work is not starved";
    EXPECT_EQ(delivered.front(), 501u);
    seen.push_back(delivered.front());
    const bool gap = std::adjacent_find(seen.begin(), seen.end(), [](uint32_t a, uint32_t b) { return b != a + 1; }) != seen.end();
    EXPECT_TRUE(gap) << "the follower sees a gap in the sequence numbers, and reconciles by RPC";

    // A part larger than max_message_bytes never reaches us: libzmq drops the connection and, as
    // for any protocol error, would never reconnect; the subscriber replaces the socket, so what
    // follows still arrives.
    const uint64_t before = sub.received();
    Publish(pub, "rawtx", 256 * 1024, 511);
    std::this_thread::sleep_for(200ms);
    run_chain_thread();
    EXPECT_EQ(sub.received(), before);
    delivered.clear();
    ASSERT_TRUE(Eventually([&] {
        Publish(pub, "rawtx", 32, 512);
        run_chain_thread();
        return !delivered.empty();
    }));
    EXPECT_GE(sub.reopened(), 1u);
    ASSERT_FALSE(bad.empty());
    EXPECT_NE(bad.back().find("disconnected"), std::string::npos) << "the follower is told, and resyncs";
    sub.Stop();
}

TEST(zmq_subscriber_tests, WhatAMessagesHandlerQueuesRunsBeforeTheNextMessageIsRead)
{
    // A trigger's handler queues its sweep's send: with messages already waiting behind the
    // trigger (a burst), the send must not wait for them (the default ZmqLimits, one per turn).
    zmq::context_t ctx;
    zmq::socket_t pub{ctx, zmq::socket_type::pub};
    pub.bind("tcp://127.0.0.1:*");
    const std::string ep = pub.get(zmq::sockopt::last_endpoint);
    boost::asio::io_context io;
    std::vector<std::string> order;
    ZmqSubscriber sub{io.get_executor(), {{ep, {"rawtx"}}},
                      [&](const std::string&, chain::ZmqMessage m, ZmqArrival) {
                          order.push_back("msg " + std::to_string(m.sequence));
                          boost::asio::post(io, [&order, seq = m.sequence] { order.push_back("sent " + std::to_string(seq)); });
                      },
                      [](const std::string&, std::string) {}};
    sub.Start();
    ASSERT_TRUE(Eventually([&] {
        Publish(pub, "rawtx", 32, 0);
        io.restart();
        io.poll();
        return !order.empty();
    }));
    std::this_thread::sleep_for(200ms);
    io.restart();
    io.poll();
    order.clear();
    for (uint32_t i = 1; i <= 3; ++i) Publish(pub, "rawtx", 32, i);
    std::this_thread::sleep_for(200ms); // all three wait in libzmq before the executor runs
    ASSERT_TRUE(Eventually([&] {
        io.restart();
        io.poll();
        return order.size() == 6;
    }));
    EXPECT_EQ(order, (std::vector<std::string>{"msg 1", "sent 1", "msg 2", "sent 2", "msg 3", "sent 3"}));
    sub.Stop();
}

TEST(zmq_subscriber_tests, NoHandlerRunsAfterTheStop)
{
    // Stop closes the sockets at once: a wait or a turn already queued on the executor finds the
    // subscriber stopped, even when the subscriber itself is gone by then.
    zmq::context_t ctx;
    zmq::socket_t pub{ctx, zmq::socket_type::pub};
    pub.bind("tcp://127.0.0.1:*");
    const std::string ep = pub.get(zmq::sockopt::last_endpoint);
    boost::asio::io_context io;
    size_t delivered = 0;
    auto sub = std::make_unique<ZmqSubscriber>(io.get_executor(), std::vector<ZmqSubscription>{{ep, {"rawtx"}}},
                                               [&](const std::string&, chain::ZmqMessage, ZmqArrival) { ++delivered; },
                                               [](const std::string&, std::string) {});
    sub->Start();
    ASSERT_TRUE(Eventually([&] {
        Publish(pub, "rawtx", 32, 0);
        io.restart();
        io.poll();
        return delivered > 0;
    }));
    for (uint32_t i = 1; i <= 100; ++i) Publish(pub, "rawtx", 32, i);
    std::this_thread::sleep_for(200ms);
    sub.reset(); // Stop, then gone
    const size_t at_stop = delivered;
    io.restart();
    io.poll();
    EXPECT_EQ(delivered, at_stop);
}

TEST(zmq_subscriber_tests, AStopRightAfterTheStartDoesNotHang)
{
    // The daemon may be told to stop (SIGTERM) while the sockets are still connecting.
    boost::asio::io_context io;
    for (int i = 0; i < 50; ++i) {
        ZmqSubscriber sub{io.get_executor(), {{"tcp://127.0.0.1:9", {"rawtx"}}, {"tcp://127.0.0.1:9", {"sequence"}}},
                          [](const std::string&, chain::ZmqMessage, ZmqArrival) {}, [](const std::string&, std::string) {}};
        const auto t0 = std::chrono::steady_clock::now();
        sub.Start();
        if (i % 2) io.poll();
        sub.Stop();
        ASSERT_LT(std::chrono::steady_clock::now() - t0, 5s) << "round " << i;
    }
    io.restart();
    io.poll();
}

//! A fresh directory under the system's temporary one (mode 0700, as mkdtemp makes it).
std::filesystem::path PrivateDir()
{
    std::string t = (std::filesystem::temp_directory_path() / "vw-ipc-XXXXXX").string();
    if (!::mkdtemp(t.data())) throw std::runtime_error("mkdtemp");
    return t;
}

TEST(zmq_subscriber_tests, OnlyASocketNobodyButItsOwnerCouldHaveBoundIsTheNodes)
{
    // A squatter who binds the port before bitcoind publishes whatever he likes: what a TCP port
    // or a socket in a directory others can write says is a hint, checked with the node.
    EXPECT_NE(CheckNodeOnlySocket("tcp://127.0.0.1:28332"), std::nullopt);
    EXPECT_NE(CheckNodeOnlySocket("ipc://relative/sock"), std::nullopt);
    const auto dir = PrivateDir();
    const std::string ep = "ipc://" + (dir / "rawtx.sock").string();
    EXPECT_NE(CheckNodeOnlySocket(ep), std::nullopt) << "not bound yet";
    zmq::context_t ctx;
    zmq::socket_t pub{ctx, zmq::socket_type::pub};
    pub.bind(ep);
    EXPECT_EQ(CheckNodeOnlySocket(ep), std::nullopt) << "a socket in a private directory";
    // Reached through a symlink: as safe as the directories on both sides.
    const auto link = dir.string() + "-link";
    std::filesystem::create_directory_symlink(dir, link);
    EXPECT_EQ(CheckNodeOnlySocket("ipc://" + link + "/rawtx.sock"), std::nullopt);
    for (mode_t m : {0770, 0777, 01777}) {
        ::chmod(dir.c_str(), m);
        const auto why = CheckNodeOnlySocket(ep);
        ASSERT_NE(why, std::nullopt) << std::oct << m;
        EXPECT_NE(why->find("could bind the socket before bitcoind does"), std::string::npos) << *why;
        EXPECT_NE(CheckNodeOnlySocket("ipc://" + link + "/rawtx.sock"), std::nullopt) << "the same directory through the link";
    }
    // A private directory inside one others can write, without a sticky bit: they can move it.
    ::chmod(dir.c_str(), 0700);
    std::filesystem::create_directory(dir / "inner");
    ::chmod((dir / "inner").c_str(), 0700);
    const std::string inner = "ipc://" + (dir / "inner" / "s").string();
    zmq::socket_t pub2{ctx, zmq::socket_type::pub};
    pub2.bind(inner);
    EXPECT_EQ(CheckNodeOnlySocket(inner), std::nullopt);
    ::chmod(dir.c_str(), 0777);
    ASSERT_NE(CheckNodeOnlySocket(inner), std::nullopt);
    EXPECT_NE(CheckNodeOnlySocket(inner)->find("could move the socket's directory"), std::string::npos);
    ::chmod(dir.c_str(), 01777); // as /tmp: others cannot rename what is not theirs
    EXPECT_EQ(CheckNodeOnlySocket(inner), std::nullopt);
    // Not a socket.
    ::chmod(dir.c_str(), 0700);
    { std::FILE* f = std::fopen((dir / "plain").c_str(), "w"); ASSERT_TRUE(f); std::fclose(f); }
    EXPECT_NE(CheckNodeOnlySocket("ipc://" + (dir / "plain").string()), std::nullopt);
    pub.close();
    pub2.close();
    std::filesystem::remove(link);
    std::filesystem::remove_all(dir);
}

TEST(zmq_subscriber_tests, MessagesSayWhetherTheirSocketCanOnlyBeTheNodes)
{
    // The same messages on a socket in a private directory and on a TCP port: only the first are
    // marked as the node's own, and the flag follows the directory's permissions when they change.
    const auto dir = PrivateDir();
    const std::string ipc = "ipc://" + (dir / "rawtx.sock").string();
    zmq::context_t ctx;
    zmq::socket_t pub_ipc{ctx, zmq::socket_type::pub};
    pub_ipc.bind(ipc);
    zmq::socket_t pub_tcp{ctx, zmq::socket_type::pub};
    pub_tcp.bind("tcp://127.0.0.1:*");
    const std::string tcp = pub_tcp.get(zmq::sockopt::last_endpoint);
    boost::asio::io_context io;
    std::mutex mu;
    std::vector<std::pair<std::string, bool>> got;
    ZmqSubscriber sub{io.get_executor(), {{ipc, {"hashblock"}}, {tcp, {"hashblock"}}},
                      [&](const std::string& ep, chain::ZmqMessage, ZmqArrival a) {
                          std::lock_guard lk(mu);
                          got.emplace_back(ep, a.from_node);
                      },
                      [](const std::string&, std::string) {}};
    sub.Start();
    auto seen = [&](const std::string& ep, bool node) {
        std::lock_guard lk(mu);
        return std::count(got.begin(), got.end(), std::pair{ep, node});
    };
    uint32_t seq = 0;
    ASSERT_TRUE(Eventually([&] {
        Publish(pub_ipc, "hashblock", 32, seq);
        Publish(pub_tcp, "hashblock", 32, seq++);
        io.poll();
        io.restart();
        return seen(ipc, true) > 0 && seen(tcp, false) > 0;
    }));
    EXPECT_EQ(seen(ipc, false), 0);
    EXPECT_EQ(seen(tcp, true), 0);
    // Someone opens the directory to others: within a few seconds its messages are hints again.
    ::chmod(dir.c_str(), 0777);
    ASSERT_TRUE(Eventually([&] {
        Publish(pub_ipc, "hashblock", 32, seq++);
        io.poll();
        io.restart();
        return seen(ipc, false) > 0;
    }));
    sub.Stop();
    io.poll();
    std::filesystem::remove_all(dir);
}

} // namespace
} // namespace vw::daemon
