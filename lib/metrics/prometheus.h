#pragma once
// Prometheus text exposition (format 0.0.4), pure: the daemon renders its counters into a
// MetricsText at each scrape of /metrics (daemon/metrics_server.*). Families are written whole
// (HELP, TYPE, then every sample), as the format requires.

#include <cstdint>
#include <string>
#include <string_view>
#include <utility>
#include <vector>

namespace vw::metrics {

using Labels = std::vector<std::pair<std::string, std::string>>;

//! Observations counted into fixed buckets (upper bounds, ascending); rendered cumulatively with
//! a final +Inf bucket, _sum and _count.
class Histogram
{
public:
    explicit Histogram(std::vector<double> upper_bounds);
    void Observe(double value);
    const std::vector<double>& bounds() const { return m_bounds; }
    //! Per bucket, not cumulative; one more than bounds() (the +Inf bucket last).
    const std::vector<uint64_t>& counts() const { return m_counts; }
    double sum() const { return m_sum; }
    uint64_t count() const { return m_count; }

private:
    std::vector<double> m_bounds;
    std::vector<uint64_t> m_counts;
    double m_sum{0};
    uint64_t m_count{0};
};

//! Default buckets for request latencies in seconds: 100 µs to 2.5 s.
std::vector<double> LatencyBuckets();
//! A trigger's answer, in seconds: every 100 µs up to 2 ms (the target is 1 ms: how far past it a
//! tail falls shows too), then 2.5 ms to 10 s.
std::vector<double> ReactionBuckets();

class MetricsText
{
public:
    enum class Type { Counter, Gauge, Histogram };
    //! Starts a family: "# HELP" and "# TYPE" lines. name must be a valid metric name
    //! ([a-zA-Z_:][a-zA-Z0-9_:]*); a bad one is a programming error (std::invalid_argument).
    void Family(std::string_view name, Type type, std::string_view help);
    //! One sample of the current family (name may carry a _total/_bucket-style suffix).
    void Sample(std::string_view name, double value, const Labels& labels = {});
    //! The _bucket, _sum and _count samples of a histogram family.
    void HistogramSamples(std::string_view name, const Histogram& h, const Labels& labels = {});
    const std::string& str() const { return m_out; }

private:
    std::string m_out;
};

bool IsValidMetricName(std::string_view name);
//! A label value with \, " and newline escaped.
std::string EscapeLabelValue(std::string_view v);
//! A sample value: integers without a fraction, "NaN", "+Inf", "-Inf", otherwise shortest round-trip.
std::string FormatMetricValue(double v);

} // namespace vw::metrics
