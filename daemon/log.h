#pragma once
// Per-component spdlog loggers. Levels are set at start (loglevel=) and again on SIGHUP.
// Nothing an unauthenticated client sends is logged above debug, so it cannot flood the journal.

#include <spdlog/spdlog.h>

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

} // namespace vw::log
