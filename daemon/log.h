#pragma once
// Per-component spdlog loggers. Levels are set at start (loglevel=) and again on SIGHUP.
// Nothing an unauthenticated client sends is logged above debug, so it cannot flood the journal.

#include <spdlog/spdlog.h>

#include <chrono>
#include <memory>
#include <optional>
#include <string>

namespace vw::log {

//! Returns: why `spec` is not a loglevel= value, or nullopt. A value is a level (trace, debug,
//! info, warn, error, critical, off) or a comma-separated list of levels and component=level
//! pairs (components: chain, zmq, rpc, store, main). spdlog itself maps an unknown word to "off",
//! which would silence the daemon; nothing reaches it unchecked.
std::optional<std::string> CheckLevels(const std::string& spec);

//! Creates the loggers, writing to stderr (journald adds timestamps) and optionally a file; again
//! on SIGHUP, which reopens the file after logrotate. Returns: why it could not (a bad level, a log
//! file that cannot be opened); the loggers then keep writing where they did, at their old levels.
std::optional<std::string> Init(const std::string& level, const std::string& file = "");

std::shared_ptr<spdlog::logger> Chain();
std::shared_ptr<spdlog::logger> Zmq();
std::shared_ptr<spdlog::logger> Rpc();
std::shared_ptr<spdlog::logger> Store();
std::shared_ptr<spdlog::logger> Main();

//! At most per_second lines a second: what a mass exit would write one line per vault (30,000
//! lines for 10,000 vaults) is said in full up to the budget, then counted. journald itself drops
//! lines past its own burst (10,000 per 30 s by default), and at random; this drops none of what
//! the store keeps.
class LineBudget
{
public:
    explicit LineBudget(size_t per_second) : m_per_second(per_second) {}
    //! Returns: whether a line may be written now. *withheld: the lines refused in the previous
    //! second, once, when the next second's first line is taken (else 0).
    bool Take(std::chrono::steady_clock::time_point now, size_t& withheld);

private:
    size_t m_per_second;
    std::chrono::steady_clock::time_point m_window{};
    size_t m_taken{0};
    size_t m_refused{0};
};

} // namespace vw::log
