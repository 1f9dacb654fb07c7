#pragma once
// What the machine did while a benchmark measured: on a virtual machine, "steal" is the time this
// VM's CPUs were ready to run and the hypervisor ran something else (/proc/stat). A latency tail
// measured while a tenth of the CPU time was stolen is the hypervisor's as much as the code's, so
// the benchmarks print it beside their figures.
#include <cstdint>
#include <fstream>
#include <sstream>
#include <string>

namespace vw::bench {

struct CpuTimes {
    uint64_t total{0}; //!< every state, in USER_HZ ticks, all CPUs
    uint64_t steal{0};
    bool ok{false};
};

//! The first line of /proc/stat ("cpu user nice system idle iowait irq softirq steal ...").
inline CpuTimes ReadCpuTimes()
{
    CpuTimes t;
    std::ifstream f("/proc/stat");
    std::string line;
    if (!std::getline(f, line) || line.rfind("cpu ", 0) != 0) return t;
    std::istringstream in(line.substr(4));
    uint64_t v = 0;
    // guest and guest_nice (fields 9 and 10) are already counted in user and nice.
    for (int i = 0; i < 8 && in >> v; ++i) {
        t.total += v;
        if (i == 7) {
            t.steal = v;
            t.ok = true;
        }
    }
    return t;
}

//! The share of CPU time stolen between two readings, in percent; negative when unknown.
inline double StealPercent(const CpuTimes& a, const CpuTimes& b)
{
    if (!a.ok || !b.ok || b.total <= a.total) return -1;
    return 100.0 * static_cast<double>(b.steal - a.steal) / static_cast<double>(b.total - a.total);
}

} // namespace vw::bench
