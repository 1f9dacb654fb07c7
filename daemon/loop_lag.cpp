#include "loop_lag.h"

#include "log.h"

namespace vw::daemon {

LoopLag::LoopLag(boost::asio::any_io_executor ex, std::chrono::milliseconds period) : m_timer(ex), m_period(period) {}

void LoopLag::Start()
{
    if (*m_running) return;
    *m_running = true;
    Arm();
}

void LoopLag::Stop()
{
    *m_running = false;
    m_timer.cancel();
}

void LoopLag::Arm()
{
    m_timer.expires_after(m_period);
    m_timer.async_wait([this, running = m_running](const boost::system::error_code& ec) {
        if (ec || !*running) return;
        const auto now = std::chrono::steady_clock::now();
        const auto late = std::max(std::chrono::nanoseconds{0}, std::chrono::duration_cast<std::chrono::nanoseconds>(now - m_timer.expiry()));
        m_lag.Observe(std::chrono::duration<double>(late).count());
        m_max = std::max(m_max, late);
        if (late >= kWarnLag && (m_warned == std::chrono::steady_clock::time_point{} || now - m_warned >= std::chrono::minutes{1})) {
            m_warned = now;
            log::Main()->warn("the daemon's thread was held for {} ms (a trigger arriving then waited as long; said at most once a minute)",
                              std::chrono::duration_cast<std::chrono::milliseconds>(late).count());
        }
        Arm();
    });
}

} // namespace vw::daemon
