#include "metrics/prometheus.h"

#include <algorithm>
#include <charconv>
#include <cmath>
#include <stdexcept>

namespace vw::metrics {

Histogram::Histogram(std::vector<double> upper_bounds) : m_bounds(std::move(upper_bounds)), m_counts(m_bounds.size() + 1, 0)
{
    if (!std::is_sorted(m_bounds.begin(), m_bounds.end())) throw std::invalid_argument("histogram bounds must ascend");
}

void Histogram::Observe(double value)
{
    // Upper bounds are inclusive ("le").
    const auto it = std::lower_bound(m_bounds.begin(), m_bounds.end(), value);
    ++m_counts[static_cast<size_t>(it - m_bounds.begin())];
    m_sum += value;
    ++m_count;
}

std::vector<double> LatencyBuckets()
{
    return {0.0001, 0.00025, 0.0005, 0.001, 0.0025, 0.005, 0.01, 0.025, 0.05, 0.1, 0.25, 0.5, 1.0, 2.5};
}

std::vector<double> ReactionBuckets()
{
    std::vector<double> b;
    for (int i = 1; i <= 20; ++i) b.push_back(0.0001 * i);
    for (double x : {0.0025, 0.003, 0.005, 0.01, 0.025, 0.05, 0.1, 0.25, 0.5, 1.0, 2.5, 5.0, 10.0}) b.push_back(x);
    return b;
}

bool IsValidMetricName(std::string_view name)
{
    if (name.empty()) return false;
    auto alpha = [](char c) { return (c >= 'a' && c <= 'z') || (c >= 'A' && c <= 'Z') || c == '_' || c == ':'; };
    if (!alpha(name[0])) return false;
    return std::all_of(name.begin() + 1, name.end(), [&](char c) { return alpha(c) || (c >= '0' && c <= '9'); });
}

std::string EscapeLabelValue(std::string_view v)
{
    std::string out;
    out.reserve(v.size());
    for (char c : v) {
        if (c == '\\') out += "\\\\";
        else if (c == '"') out += "\\\"";
        else if (c == '\n') out += "\\n";
        else out += c;
    }
    return out;
}

std::string FormatMetricValue(double v)
{
    if (std::isnan(v)) return "NaN";
    if (std::isinf(v)) return v > 0 ? "+Inf" : "-Inf";
    char buf[64];
    // Counts and satoshi amounts print as integers (2100000000000000, not 2.1e+15).
    if (v == std::trunc(v) && std::fabs(v) < 9.2e18) {
        const auto r = std::to_chars(buf, buf + sizeof buf, static_cast<int64_t>(v));
        return std::string(buf, r.ptr);
    }
    const auto r = std::to_chars(buf, buf + sizeof buf, v);
    return std::string(buf, r.ptr);
}

namespace {
void AppendSample(std::string& out, std::string_view name, const Labels& labels, std::string_view value)
{
    if (!IsValidMetricName(name)) throw std::invalid_argument("bad metric name: " + std::string(name));
    out += name;
    if (!labels.empty()) {
        out += '{';
        for (size_t i = 0; i < labels.size(); ++i) {
            if (!IsValidMetricName(labels[i].first) || labels[i].first.find(':') != std::string::npos) {
                throw std::invalid_argument("bad label name: " + labels[i].first);
            }
            if (i) out += ',';
            out += labels[i].first;
            out += "=\"";
            out += EscapeLabelValue(labels[i].second);
            out += '"';
        }
        out += '}';
    }
    out += ' ';
    out += value;
    out += '\n';
}
} // namespace

void MetricsText::Family(std::string_view name, Type type, std::string_view help)
{
    if (!IsValidMetricName(name)) throw std::invalid_argument("bad metric name: " + std::string(name));
    m_out += "# HELP ";
    m_out += name;
    m_out += ' ';
    for (char c : help) {
        // HELP text escapes backslash and newline only.
        if (c == '\\') m_out += "\\\\";
        else if (c == '\n') m_out += "\\n";
        else m_out += c;
    }
    m_out += "\n# TYPE ";
    m_out += name;
    m_out += type == Type::Counter ? " counter\n" : type == Type::Gauge ? " gauge\n" : " histogram\n";
}

void MetricsText::Sample(std::string_view name, double value, const Labels& labels)
{
    AppendSample(m_out, name, labels, FormatMetricValue(value));
}

void MetricsText::HistogramSamples(std::string_view name, const Histogram& h, const Labels& labels)
{
    const std::string base(name);
    uint64_t cumulative = 0;
    for (size_t i = 0; i <= h.bounds().size(); ++i) {
        cumulative += h.counts()[i];
        Labels l = labels;
        l.emplace_back("le", i < h.bounds().size() ? FormatMetricValue(h.bounds()[i]) : "+Inf");
        AppendSample(m_out, base + "_bucket", l, std::to_string(cumulative));
    }
    AppendSample(m_out, base + "_sum", labels, FormatMetricValue(h.sum()));
    AppendSample(m_out, base + "_count", labels, std::to_string(h.count()));
}

} // namespace vw::metrics
