// The Prometheus text format as Prometheus parses it (exposition format 0.0.4): HELP/TYPE lines,
// label escaping, value spelling, and cumulative histogram buckets ending in +Inf.
#include "metrics/prometheus.h"

#include <gtest/gtest.h>

#include <algorithm>
#include <cmath>
#include <functional>
#include <limits>
#include <stdexcept>

namespace vw::metrics {
namespace {

TEST(metrics_tests, FamilyAndSamples)
{
    MetricsText m;
    m.Family("vaultwatch_vaults", MetricsText::Type::Gauge, "Registered vaults by kind and state.");
    m.Sample("vaultwatch_vaults", 3, {{"kind", "presigned"}, {"state", "active"}});
    m.Sample("vaultwatch_vaults", 0, {{"kind", "opvault"}, {"state", "triggered"}});
    m.Family("vaultwatch_zmq_gaps_total", MetricsText::Type::Counter, "Sequence gaps.");
    m.Sample("vaultwatch_zmq_gaps_total", 12);
    EXPECT_EQ(m.str(),
              "# HELP vaultwatch_vaults Registered vaults by kind and state.\n"
              "# TYPE vaultwatch_vaults gauge\n"
              "vaultwatch_vaults{kind=\"presigned\",state=\"active\"} 3\n"
              "vaultwatch_vaults{kind=\"opvault\",state=\"triggered\"} 0\n"
              "# HELP vaultwatch_zmq_gaps_total Sequence gaps.\n"
              "# TYPE vaultwatch_zmq_gaps_total counter\n"
              "vaultwatch_zmq_gaps_total 12\n");
}

TEST(metrics_tests, Escaping)
{
    EXPECT_EQ(EscapeLabelValue("a\\b\"c\nd"), "a\\\\b\\\"c\\nd");
    MetricsText m;
    m.Family("x", MetricsText::Type::Gauge, "line one\nback\\slash");
    m.Sample("x", 1, {{"url", "http://h/\"q\""}});
    EXPECT_EQ(m.str(), "# HELP x line one\\nback\\\\slash\n# TYPE x gauge\nx{url=\"http://h/\\\"q\\\"\"} 1\n");
}

TEST(metrics_tests, Values)
{
    EXPECT_EQ(FormatMetricValue(0), "0");
    EXPECT_EQ(FormatMetricValue(840000), "840000");
    EXPECT_EQ(FormatMetricValue(-3), "-3");
    EXPECT_EQ(FormatMetricValue(0.25), "0.25");
    EXPECT_EQ(FormatMetricValue(2100000000000000.0), "2100000000000000");
    EXPECT_EQ(FormatMetricValue(std::numeric_limits<double>::quiet_NaN()), "NaN");
    EXPECT_EQ(FormatMetricValue(std::numeric_limits<double>::infinity()), "+Inf");
    EXPECT_EQ(FormatMetricValue(-std::numeric_limits<double>::infinity()), "-Inf");
}

TEST(metrics_tests, NamesAreChecked)
{
    EXPECT_TRUE(IsValidMetricName("vaultwatch_tip_height"));
    EXPECT_TRUE(IsValidMetricName("a:b_c9"));
    EXPECT_FALSE(IsValidMetricName(""));
    EXPECT_FALSE(IsValidMetricName("9lives"));
    EXPECT_FALSE(IsValidMetricName("has-dash"));
    EXPECT_FALSE(IsValidMetricName("has space"));
    MetricsText m;
    EXPECT_THROW(m.Family("bad-name", MetricsText::Type::Gauge, ""), std::invalid_argument);
    EXPECT_THROW(m.Sample("ok", 1, {{"bad label", "v"}}), std::invalid_argument);
    EXPECT_THROW(m.Sample("ok", 1, {{"a:b", "v"}}), std::invalid_argument) << "label names take no colon";
}

TEST(metrics_tests, HistogramIsCumulativeWithInclusiveBounds)
{
    Histogram h{{0.001, 0.01, 0.1}};
    for (double v : {0.0005, 0.001, 0.002, 0.05, 0.05, 3.0}) h.Observe(v);
    EXPECT_EQ(h.count(), 6u);
    EXPECT_DOUBLE_EQ(h.sum(), 0.0005 + 0.001 + 0.002 + 0.05 + 0.05 + 3.0);
    MetricsText m;
    m.Family("rpc_seconds", MetricsText::Type::Histogram, "Latency.");
    m.HistogramSamples("rpc_seconds", h, {{"method", "all"}});
    const std::string want = "# HELP rpc_seconds Latency.\n"
                             "# TYPE rpc_seconds histogram\n"
                             "rpc_seconds_bucket{method=\"all\",le=\"0.001\"} 2\n"
                             "rpc_seconds_bucket{method=\"all\",le=\"0.01\"} 3\n"
                             "rpc_seconds_bucket{method=\"all\",le=\"0.1\"} 5\n"
                             "rpc_seconds_bucket{method=\"all\",le=\"+Inf\"} 6\n"
                             "rpc_seconds_sum{method=\"all\"} " +
                             FormatMetricValue(h.sum()) + "\nrpc_seconds_count{method=\"all\"} 6\n";
    EXPECT_EQ(m.str(), want);
    EXPECT_THROW(Histogram({0.1, 0.01}), std::invalid_argument);
    const auto b = LatencyBuckets();
    EXPECT_TRUE(std::is_sorted(b.begin(), b.end()));
}

TEST(prometheus_tests, ReactionBucketsTellAnswersUnderAMillisecondApart)
{
    // The target is p99 < 1 ms: a bucket every 100 us up to it and on to 2 ms, so the histogram
    // says which side of it an answer fell, and by how much; wider ones beyond, up to 10 s (a
    // node that did not answer for long).
    const auto b = ReactionBuckets();
    ASSERT_TRUE(std::adjacent_find(b.begin(), b.end(), std::greater_equal<double>()) == b.end()) << "strictly ascending";
    EXPECT_NO_THROW(Histogram{b});
    EXPECT_EQ(std::count_if(b.begin(), b.end(), [](double x) { return x <= 0.001 + 1e-12; }), 10);
    EXPECT_NEAR(b[9], 0.001, 1e-12);
    EXPECT_EQ(std::count_if(b.begin(), b.end(), [](double x) { return x <= 0.002 + 1e-12; }), 20) << "and past it, to 2 ms";
    EXPECT_EQ(b.back(), 10.0);
    Histogram h{b};
    h.Observe(0.00095);
    h.Observe(0.00105);
    EXPECT_EQ(h.counts()[9], 1u) << "0.95 ms: in the 1 ms bucket";
    EXPECT_EQ(h.counts()[10], 1u) << "1.05 ms: beyond it";
}

} // namespace
} // namespace vw::metrics
