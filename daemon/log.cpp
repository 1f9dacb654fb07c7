#include "log.h"

#include <spdlog/sinks/basic_file_sink.h>
#include <spdlog/sinks/stdout_color_sinks.h>

#include <mutex>
#include <sstream>

namespace vw::log {
namespace {
const char* kComponents[] = {"chain", "zmq", "rpc", "store", "main"};
std::mutex g_mutex;
std::string g_file;
std::vector<spdlog::sink_ptr> g_sinks;

std::shared_ptr<spdlog::logger> Get(const char* name)
{
    auto l = spdlog::get(name);
    if (!l) {
        std::lock_guard lock(g_mutex);
        l = spdlog::get(name);
        if (!l) {
            if (g_sinks.empty()) g_sinks.push_back(std::make_shared<spdlog::sinks::stderr_color_sink_mt>());
            l = std::make_shared<spdlog::logger>(name, g_sinks.begin(), g_sinks.end());
            spdlog::register_logger(l);
        }
    }
    return l;
}
} // namespace

void Init(const std::string& level, const std::string& file)
{
    {
        std::lock_guard lock(g_mutex);
        g_file = file;
        g_sinks.clear();
        g_sinks.push_back(std::make_shared<spdlog::sinks::stderr_color_sink_mt>());
        if (!file.empty()) g_sinks.push_back(std::make_shared<spdlog::sinks::basic_file_sink_mt>(file));
        spdlog::drop_all();
    }
    spdlog::level::level_enum def = spdlog::level::info;
    std::stringstream ss(level);
    std::string item;
    std::vector<std::pair<std::string, spdlog::level::level_enum>> overrides;
    while (std::getline(ss, item, ',')) {
        const auto eq = item.find('=');
        if (eq == std::string::npos) {
            def = spdlog::level::from_str(item);
        } else {
            overrides.emplace_back(item.substr(0, eq), spdlog::level::from_str(item.substr(eq + 1)));
        }
    }
    for (const char* c : kComponents) {
        auto l = Get(c);
        l->set_level(def);
        for (const auto& [name, lvl] : overrides) {
            if (name == c) l->set_level(lvl);
        }
        l->set_pattern("%Y-%m-%dT%H:%M:%S.%e %^%l%$ [%n] %v");
        l->flush_on(spdlog::level::warn);
    }
}

void Reopen()
{
    std::string file;
    {
        std::lock_guard lock(g_mutex);
        file = g_file;
    }
    if (file.empty()) return;
    // basic_file_sink has no reopen; rebuild the sinks with the same levels.
    std::vector<std::pair<std::string, spdlog::level::level_enum>> levels;
    for (const char* c : kComponents) levels.emplace_back(c, Get(c)->level());
    {
        std::lock_guard lock(g_mutex);
        g_sinks.clear();
        g_sinks.push_back(std::make_shared<spdlog::sinks::stderr_color_sink_mt>());
        g_sinks.push_back(std::make_shared<spdlog::sinks::basic_file_sink_mt>(file));
        spdlog::drop_all();
    }
    for (const auto& [name, lvl] : levels) {
        auto l = Get(name.c_str());
        l->set_level(lvl);
        l->set_pattern("%Y-%m-%dT%H:%M:%S.%e %^%l%$ [%n] %v");
        l->flush_on(spdlog::level::warn);
    }
}

std::shared_ptr<spdlog::logger> Chain() { return Get("chain"); }
std::shared_ptr<spdlog::logger> Zmq() { return Get("zmq"); }
std::shared_ptr<spdlog::logger> Rpc() { return Get("rpc"); }
std::shared_ptr<spdlog::logger> Store() { return Get("store"); }
std::shared_ptr<spdlog::logger> Main() { return Get("main"); }

} // namespace vw::log
