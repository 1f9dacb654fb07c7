#include "log.h"

#include <spdlog/sinks/basic_file_sink.h>
#include <spdlog/sinks/dist_sink.h>
#include <spdlog/sinks/stdout_color_sinks.h>

#include <algorithm>
#include <array>
#include <mutex>
#include <sstream>
#include <utility>
#include <variant>
#include <vector>

namespace vw::log {
namespace {
constexpr std::array<const char*, 5> kComponents{"chain", "zmq", "rpc", "store", "main"};
constexpr std::array<std::pair<const char*, spdlog::level::level_enum>, 8> kLevels{{{"trace", spdlog::level::trace},
                                                                                     {"debug", spdlog::level::debug},
                                                                                     {"info", spdlog::level::info},
                                                                                     {"warn", spdlog::level::warn},
                                                                                     {"warning", spdlog::level::warn},
                                                                                     {"error", spdlog::level::err},
                                                                                     {"critical", spdlog::level::critical},
                                                                                     {"off", spdlog::level::off}}};
std::mutex g_mutex;
// Every logger writes to this one sink, whose targets are swapped under its own lock: callers keep
// the logger they were given (some hold it for their lifetime), and a reopened file reaches them all.
const auto g_dist = [] {
    auto d = std::make_shared<spdlog::sinks::dist_sink_mt>();
    d->add_sink(std::make_shared<spdlog::sinks::stderr_color_sink_mt>());
    return d;
}();

struct Levels {
    spdlog::level::level_enum def{spdlog::level::info};
    std::vector<std::pair<std::string, spdlog::level::level_enum>> overrides;
};

std::optional<spdlog::level::level_enum> LevelOf(const std::string& word)
{
    for (const auto& [name, lvl] : kLevels) {
        if (word == name) return lvl;
    }
    return std::nullopt;
}

//! The one parser of loglevel= values: CheckLevels reports its error, Init and Reopen its result.
std::variant<Levels, std::string> ParseLevels(const std::string& spec)
{
    Levels out;
    if (spec.empty()) return std::string{"loglevel is empty: use one of trace, debug, info, warn, error, critical, off"};
    std::stringstream ss(spec);
    std::string item;
    while (std::getline(ss, item, ',')) {
        const auto eq = item.find('=');
        const std::string word = eq == std::string::npos ? item : item.substr(eq + 1);
        const auto lvl = LevelOf(word);
        if (!lvl) {
            return "loglevel=" + spec + ": '" + word + "' is not a level (trace, debug, info, warn, error, critical, off)";
        }
        if (eq == std::string::npos) {
            out.def = *lvl;
            continue;
        }
        const std::string comp = item.substr(0, eq);
        if (std::none_of(kComponents.begin(), kComponents.end(), [&](const char* c) { return comp == c; })) {
            return "loglevel=" + spec + ": '" + comp + "' is not a component (chain, zmq, rpc, store, main)";
        }
        out.overrides.emplace_back(comp, *lvl);
    }
    return out;
}

std::shared_ptr<spdlog::logger> Get(const char* name)
{
    auto l = spdlog::get(name);
    if (!l) {
        std::lock_guard lock(g_mutex);
        l = spdlog::get(name);
        if (!l) {
            l = std::make_shared<spdlog::logger>(name, g_dist);
            l->set_pattern("%Y-%m-%dT%H:%M:%S.%e %^%l%$ [%n] %v");
            l->flush_on(spdlog::level::warn);
            spdlog::register_logger(l);
        }
    }
    return l;
}

//! Builds the new sinks first, and swaps them in only if the file opened.
std::optional<std::string> Install(const Levels& levels, const std::string& file)
{
    std::vector<spdlog::sink_ptr> sinks{std::make_shared<spdlog::sinks::stderr_color_sink_mt>()};
    if (!file.empty()) {
        try {
            sinks.push_back(std::make_shared<spdlog::sinks::basic_file_sink_mt>(file));
        } catch (const spdlog::spdlog_ex& e) {
            return "cannot open the log file " + file + ": " + e.what();
        }
    }
    for (auto& s : sinks) s->set_pattern("%Y-%m-%dT%H:%M:%S.%e %^%l%$ [%n] %v");
    g_dist->set_sinks(std::move(sinks));
    // Warnings are flushed at once; the rest within a second, so `tail -f` follows the daemon.
    static std::once_flag flusher;
    std::call_once(flusher, [] { spdlog::flush_every(std::chrono::seconds{1}); });
    for (const char* c : kComponents) {
        auto l = Get(c);
        l->set_level(levels.def);
        for (const auto& [name, lvl] : levels.overrides) {
            if (name == c) l->set_level(lvl);
        }
    }
    return std::nullopt;
}
} // namespace

std::optional<std::string> CheckLevels(const std::string& spec)
{
    auto p = ParseLevels(spec);
    if (auto* e = std::get_if<std::string>(&p)) return *e;
    return std::nullopt;
}

std::optional<std::string> Init(const std::string& level, const std::string& file)
{
    auto p = ParseLevels(level);
    if (auto* e = std::get_if<std::string>(&p)) return *e;
    return Install(std::get<Levels>(p), file);
}

std::shared_ptr<spdlog::logger> Chain() { return Get("chain"); }
std::shared_ptr<spdlog::logger> Zmq() { return Get("zmq"); }
std::shared_ptr<spdlog::logger> Rpc() { return Get("rpc"); }
std::shared_ptr<spdlog::logger> Store() { return Get("store"); }
std::shared_ptr<spdlog::logger> Main() { return Get("main"); }

bool LineBudget::Take(std::chrono::steady_clock::time_point now, size_t& withheld)
{
    withheld = 0;
    if (now - m_window >= std::chrono::seconds{1}) {
        m_window = now;
        m_taken = 0;
        withheld = std::exchange(m_refused, 0);
    }
    if (m_taken < m_per_second) {
        ++m_taken;
        return true;
    }
    ++m_refused;
    return false;
}

} // namespace vw::log
