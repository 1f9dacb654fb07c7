#pragma once
// Webhook formatting (docs/product.md §7), pure: URL parsing, the event filter, the JSON payload, the
// signature header and the retry schedule. The daemon's dispatcher (daemon/webhooks.*) does the
// I/O; docs/webhooks.md describes the wire format for receivers.

#include "util/expected.h"

#include <boost/json/object.hpp>

#include <chrono>
#include <cstdint>
#include <optional>
#include <string>
#include <string_view>
#include <vector>

namespace vw::notify {

struct WebhookUrl {
    bool tls{false};          //!< https
    std::string host;         //!< DNS name or IP literal (IPv6 without brackets)
    uint16_t port{0};         //!< explicit or 80/443
    std::string target;       //!< path and query, at least "/"
    //! The Host header value: host[:port] (brackets around IPv6, port only when not the default).
    std::string HostHeader() const;
    //! scheme://host:port, for logs (no path: a path or query may carry a token).
    std::string Origin() const;
};

//! Parses an http:// or https:// URL. No userinfo, no fragment, printable ASCII only.
Expected<WebhookUrl, std::string> ParseWebhookUrl(std::string_view url);

//! Parses an event filter: "*", or a comma-separated list of event types ("vault.trigger") and
//! family wildcards ("recovery.*"). Returns the normalized list (sorted, unique; {"*"} for all).
Expected<std::vector<std::string>, std::string> ParseEventFilter(std::string_view filter);
//! Returns: whether type passes filter (a ParseEventFilter result).
bool EventFilterMatches(const std::vector<std::string>& filter, std::string_view type);
//! The filter as stored and shown: comma-joined.
std::string JoinEventFilter(const std::vector<std::string>& filter);

//! The POST body: {"id","type","created_at","chain","data"}, compact, members in that order.
std::string WebhookPayload(std::string_view id, std::string_view type, int64_t created_at, std::string_view chain,
                           const boost::json::object& data);

//! Returns: lowercase hex of HMAC-SHA256(key=secret, msg).
std::string HmacSha256Hex(std::string_view secret, std::string_view msg);
//! The Vaultwatch-Signature header value: "t=<t>,v1=<hex HMAC-SHA256(secret, "<t>.<body>")>".
std::string WebhookSignatureHeader(std::string_view secret, int64_t t, std::string_view body);
//! Checks a Vaultwatch-Signature header against body: a v1 entry must match (constant-time) and
//! t must lie within tolerance seconds of now. Returns an error message, or nothing when valid.
std::optional<std::string> VerifyWebhookSignature(std::string_view secret, std::string_view header, std::string_view body,
                                                  int64_t now, int64_t tolerance);

//! Retry schedule: the wait after the attempts-th failed attempt (attempts >= 1) is
//! min(cap, base * 2^(attempts-1)), scaled by a jitter factor in [0.5, 1.0] taken from
//! jitter01 in [0, 1) ("equal jitter": never less than half the nominal wait, never more).
std::chrono::milliseconds WebhookBackoff(int attempts, std::chrono::milliseconds base, std::chrono::milliseconds cap,
                                         double jitter01);

} // namespace vw::notify
