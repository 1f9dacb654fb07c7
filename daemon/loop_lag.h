#pragma once
// How long the daemon's one thread was held by something else: a timer on it, due every
// `period`, records how late it fires. That thread answers triggers, so its lag is a trigger's
// wait before the work starts (a mempool snapshot read, a block of many triggers, a scrape, the
// machine itself). Shown on /metrics; a lag of kWarnLag or more is logged, at most once a minute.

#include "metrics/prometheus.h"

#include <boost/asio/any_io_executor.hpp>
#include <boost/asio/steady_timer.hpp>

#include <chrono>
#include <memory>

namespace vw::daemon {

class LoopLag
{
public:
    static constexpr std::chrono::milliseconds kPeriod{100};
    static constexpr std::chrono::milliseconds kWarnLag{250};

    explicit LoopLag(boost::asio::any_io_executor ex, std::chrono::milliseconds period = kPeriod);
    void Start();
    //! Cancels the timer (the handler that may still be queued does nothing).
    void Stop();
    const metrics::Histogram& lag() const { return m_lag; }
    std::chrono::nanoseconds max() const { return m_max; }

private:
    void Arm();
    boost::asio::steady_timer m_timer;
    std::chrono::milliseconds m_period;
    metrics::Histogram m_lag{metrics::ReactionBuckets()};
    std::chrono::nanoseconds m_max{0};
    std::chrono::steady_clock::time_point m_warned{};
    std::shared_ptr<bool> m_running{std::make_shared<bool>(false)};
};

} // namespace vw::daemon
