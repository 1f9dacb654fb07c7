#include "systemd_notify.h"

#include "log.h"

#include <systemd/sd-daemon.h>

#include <cstring>

namespace vw::daemon {

SystemdNotifier::SystemdNotifier(boost::asio::any_io_executor ex) : m_timer(ex)
{
    uint64_t usec = 0;
    // > 0: enabled for this process (WATCHDOG_PID, when set, names us).
    if (sd_watchdog_enabled(0, &usec) > 0 && usec > 0) m_watchdog = std::chrono::microseconds{usec};
}

void SystemdNotifier::Send(const std::string& state)
{
    const int r = sd_notify(0, state.c_str());
    if (r < 0 && !m_warned) {
        m_warned = true; // once: a broken notify socket must not flood the log
        log::Main()->warn("systemd notify failed: {}", std::strerror(-r));
    }
}

void SystemdNotifier::Ready(const std::string& status)
{
    if (m_ready || m_stopped) return;
    m_ready = true;
    Send("READY=1\nSTATUS=" + status);
}

void SystemdNotifier::Status(const std::string& status)
{
    if (!m_stopped) Send("STATUS=" + status);
}

void SystemdNotifier::Stopping()
{
    if (m_stopped) return;
    Send("STOPPING=1\nSTATUS=shutting down");
    Stop();
}

void SystemdNotifier::StartWatchdog()
{
    if (!m_watchdog || m_stopped) return;
    log::Main()->info("systemd watchdog: pinging every {} ms", m_watchdog->count() / 2000);
    ArmWatchdog();
}

void SystemdNotifier::ArmWatchdog()
{
    if (m_healthy) Send("WATCHDOG=1");
    m_timer.expires_after(*m_watchdog / 2);
    m_timer.async_wait([this](const boost::system::error_code& ec) {
        if (ec || m_stopped) return;
        ArmWatchdog();
    });
}

void SystemdNotifier::Stop()
{
    m_stopped = true;
    m_timer.cancel();
}

} // namespace vw::daemon
