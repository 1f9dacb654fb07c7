#pragma once
// Per-component spdlog loggers. Levels are set at start (loglevel=) and can change at runtime.
// Nothing an unauthenticated client sends is logged above debug, so it cannot flood the journal.

#include <spdlog/spdlog.h>

#include <memory>
#include <string>

namespace vw::log {

//! Creates the loggers, writing to stderr (journald adds timestamps) and optionally a file.
//! level is "trace", "debug", "info", "warn", "error"; "component=level,..." overrides one.
void Init(const std::string& level, const std::string& file = "");
//! Reopens the log file (SIGHUP, after logrotate).
void Reopen();

std::shared_ptr<spdlog::logger> Chain();
std::shared_ptr<spdlog::logger> Zmq();
std::shared_ptr<spdlog::logger> Rpc();
std::shared_ptr<spdlog::logger> Store();
std::shared_ptr<spdlog::logger> Main();

} // namespace vw::log
