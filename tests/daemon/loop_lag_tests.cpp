// LoopLag: a handler that holds the daemon's thread shows as the lag of the timer behind it.
#include "loop_lag.h"

#include <boost/asio/io_context.hpp>
#include <boost/asio/post.hpp>
#include <gtest/gtest.h>

#include <thread>

namespace vw::daemon {
namespace {
using namespace std::chrono_literals;

TEST(loop_lag_tests, AHandlerThatHoldsTheThreadIsTheLagOfTheTimerBehindIt)
{
    boost::asio::io_context io;
    LoopLag lag(io.get_executor(), 10ms);
    lag.Start();
    // Due in 10 ms; the thread is held for 60 from now.
    boost::asio::post(io, [] { std::this_thread::sleep_for(60ms); });
    while (lag.lag().count() < 2) io.run_one();
    EXPECT_GE(lag.max(), 45ms);
    const auto& b = lag.lag().bounds();
    const auto& c = lag.lag().counts();
    uint64_t over_25ms = 0;
    for (size_t i = 0; i < c.size(); ++i) over_25ms += (i == b.size() || b[i] > 0.025) ? c[i] : 0;
    EXPECT_GE(over_25ms, 1u) << "the histogram shows it";
    lag.Stop();
    io.restart();
    io.poll();
    const uint64_t n = lag.lag().count();
    std::this_thread::sleep_for(30ms);
    io.restart();
    io.poll();
    EXPECT_EQ(lag.lag().count(), n) << "stopped: no more samples";
}

} // namespace
} // namespace vw::daemon
