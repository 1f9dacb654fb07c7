#pragma once
// systemd Type=notify (sd_notify(3), libsystemd): READY=1 once the first catch-up is done,
// STATUS= lines, WATCHDOG=1 from the io thread at half the interval systemd asks for (so a
// stuck event loop gets the service restarted) while the tower is healthy (SetHealthy: a wedged
// chain follower stops the pings too, health.h), STOPPING=1 at shutdown. Outside systemd
// (no $NOTIFY_SOCKET) every call is a no-op.

#include <boost/asio/any_io_executor.hpp>
#include <boost/asio/steady_timer.hpp>

#include <chrono>
#include <optional>
#include <string>

namespace vw::daemon {

class SystemdNotifier
{
public:
    explicit SystemdNotifier(boost::asio::any_io_executor ex);
    void Ready(const std::string& status);
    void Status(const std::string& status);
    void Stopping();
    //! Starts the watchdog pings when systemd asked for them ($WATCHDOG_USEC for this pid).
    void StartWatchdog();
    //! false: the pings stop (systemd restarts the service after WatchdogSec).
    void SetHealthy(bool healthy) { m_healthy = healthy; }
    void Stop();
    std::optional<std::chrono::microseconds> watchdog_interval() const { return m_watchdog; }

private:
    void Send(const std::string& state);
    void ArmWatchdog();

    boost::asio::steady_timer m_timer;
    std::optional<std::chrono::microseconds> m_watchdog;
    bool m_ready{false};
    bool m_stopped{false};
    bool m_warned{false};
    bool m_healthy{true};
};

} // namespace vw::daemon
