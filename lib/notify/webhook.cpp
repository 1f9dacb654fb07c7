#include "notify/webhook.h"

#include "crypto/hmac.h"
#include "rpc/auth.h"
#include "util/hex.h"

#include <boost/json/serialize.hpp>
#include <boost/json/value.hpp>


#include <algorithm>
#include <array>
#include <charconv>
#include <cmath>

namespace vw::notify {

namespace {
bool Printable(std::string_view s)
{
    return std::all_of(s.begin(), s.end(), [](char c) { return c > 0x20 && c < 0x7f; });
}

std::string Lower(std::string_view s)
{
    std::string out(s);
    for (auto& c : out) {
        if (c >= 'A' && c <= 'Z') c = static_cast<char>(c - 'A' + 'a');
    }
    return out;
}

bool NamePart(std::string_view s)
{
    return !s.empty() && std::all_of(s.begin(), s.end(), [](char c) { return (c >= 'a' && c <= 'z') || (c >= '0' && c <= '9') || c == '_'; });
}
} // namespace

std::string WebhookUrl::HostHeader() const
{
    std::string h = host.find(':') != std::string::npos ? "[" + host + "]" : host;
    if (port != (tls ? 443 : 80)) h += ":" + std::to_string(port);
    return h;
}

std::string WebhookUrl::Origin() const
{
    return std::string(tls ? "https://" : "http://") + (host.find(':') != std::string::npos ? "[" + host + "]" : host) + ":" +
           std::to_string(port);
}

Expected<WebhookUrl, std::string> ParseWebhookUrl(std::string_view url)
{
    if (url.size() > 2048) return Unexpected{std::string{"webhook URL is longer than 2048 characters"}};
    if (!Printable(url)) return Unexpected{std::string{"webhook URL has spaces or non-ASCII characters"}};
    WebhookUrl u;
    const auto sep = url.find("://");
    if (sep == std::string_view::npos) return Unexpected{std::string{"webhook URL must start with http:// or https://"}};
    const std::string scheme = Lower(url.substr(0, sep));
    if (scheme == "https") u.tls = true;
    else if (scheme != "http") return Unexpected{"unsupported webhook URL scheme '" + scheme + "' (http or https)"};
    std::string_view rest = url.substr(sep + 3);
    if (rest.find('#') != std::string_view::npos) return Unexpected{std::string{"webhook URL must not have a fragment"}};
    const auto path_start = rest.find_first_of("/?");
    std::string_view authority = rest.substr(0, path_start);
    u.target = path_start == std::string_view::npos ? "/" : std::string(rest.substr(path_start));
    if (u.target.front() == '?') u.target.insert(0, "/");
    if (authority.find('@') != std::string_view::npos) return Unexpected{std::string{"webhook URL must not carry credentials (user@host)"}};
    std::string_view port_str;
    if (!authority.empty() && authority.front() == '[') {
        const auto close = authority.find(']');
        if (close == std::string_view::npos) return Unexpected{std::string{"webhook URL has an unterminated [IPv6] host"}};
        u.host = std::string(authority.substr(1, close - 1));
        const std::string_view after = authority.substr(close + 1);
        if (!after.empty()) {
            if (after.front() != ':') return Unexpected{std::string{"webhook URL has junk after the [IPv6] host"}};
            port_str = after.substr(1);
        }
    } else {
        const auto colon = authority.find(':');
        u.host = Lower(authority.substr(0, colon));
        if (colon != std::string_view::npos) port_str = authority.substr(colon + 1);
    }
    if (u.host.empty()) return Unexpected{std::string{"webhook URL has no host"}};
    u.port = u.tls ? 443 : 80;
    if (!port_str.empty() || authority.ends_with(":")) {
        unsigned p = 0;
        auto [ptr, ec] = std::from_chars(port_str.data(), port_str.data() + port_str.size(), p);
        if (ec != std::errc{} || ptr != port_str.data() + port_str.size() || p == 0 || p > 65535) {
            return Unexpected{"webhook URL has a bad port '" + std::string(port_str) + "'"};
        }
        u.port = static_cast<uint16_t>(p);
    }
    return u;
}

Expected<std::vector<std::string>, std::string> ParseEventFilter(std::string_view filter)
{
    std::vector<std::string> out;
    size_t start = 0;
    while (start <= filter.size()) {
        const size_t comma = std::min(filter.find(',', start), filter.size());
        std::string_view item = filter.substr(start, comma - start);
        while (!item.empty() && item.front() == ' ') item.remove_prefix(1);
        while (!item.empty() && item.back() == ' ') item.remove_suffix(1);
        start = comma + 1;
        if (item.empty()) continue;
        const auto dot = item.find('.');
        const bool ok = item == "*" || (dot != std::string_view::npos && NamePart(item.substr(0, dot)) &&
                                        (item.substr(dot + 1) == "*" || NamePart(item.substr(dot + 1))));
        if (!ok) return Unexpected{"bad event filter entry '" + std::string(item) + "' (an event type like vault.trigger, a family like recovery.*, or *)"};
        out.emplace_back(item);
    }
    if (out.empty()) return Unexpected{std::string{"empty event filter (use * for every event)"}};
    if (std::find(out.begin(), out.end(), "*") != out.end()) return std::vector<std::string>{"*"};
    std::sort(out.begin(), out.end());
    out.erase(std::unique(out.begin(), out.end()), out.end());
    return out;
}

bool EventFilterMatches(const std::vector<std::string>& filter, std::string_view type)
{
    for (const auto& f : filter) {
        if (f == "*" || f == type) return true;
        if (f.ends_with(".*") && type.size() > f.size() - 1 && type.substr(0, f.size() - 1) == std::string_view(f).substr(0, f.size() - 1)) {
            return true;
        }
    }
    return false;
}

std::string JoinEventFilter(const std::vector<std::string>& filter)
{
    std::string out;
    for (const auto& f : filter) out += (out.empty() ? "" : ",") + f;
    return out;
}

std::string WebhookPayload(std::string_view id, std::string_view type, int64_t created_at, std::string_view chain,
                           const boost::json::object& data)
{
    boost::json::object o;
    o["id"] = id;
    o["type"] = type;
    o["created_at"] = created_at;
    o["chain"] = chain;
    o["data"] = data;
    return boost::json::serialize(o);
}

std::string HmacSha256Hex(std::string_view secret, std::string_view msg)
{
    const auto mac = crypto::HmacSha256(secret, msg);
    return HexStr(ByteSpan{mac.data(), mac.size()});
}

std::string WebhookSignatureHeader(std::string_view secret, int64_t t, std::string_view body)
{
    std::string msg = std::to_string(t);
    msg += '.';
    msg += body;
    return "t=" + std::to_string(t) + ",v1=" + HmacSha256Hex(secret, msg);
}

std::optional<std::string> VerifyWebhookSignature(std::string_view secret, std::string_view header, std::string_view body,
                                                  int64_t now, int64_t tolerance)
{
    std::optional<int64_t> t;
    std::vector<std::string_view> sigs;
    size_t start = 0;
    while (start < header.size()) {
        const size_t comma = std::min(header.find(',', start), header.size());
        const std::string_view item = header.substr(start, comma - start);
        start = comma + 1;
        const auto eq = item.find('=');
        if (eq == std::string_view::npos) return "malformed signature header";
        const std::string_view k = item.substr(0, eq), v = item.substr(eq + 1);
        if (k == "t") {
            int64_t x = 0;
            auto [p, ec] = std::from_chars(v.data(), v.data() + v.size(), x);
            if (ec != std::errc{} || p != v.data() + v.size()) return "malformed timestamp";
            t = x;
        } else if (k == "v1") {
            sigs.push_back(v);
        }
    }
    if (!t) return "no timestamp";
    if (sigs.empty()) return "no v1 signature";
    if (now - *t > tolerance || *t - now > tolerance) return "timestamp outside the tolerance";
    const std::string want = HmacSha256Hex(secret, std::to_string(*t) + "." + std::string(body));
    for (auto s : sigs) {
        if (rpc::TimingSafeEqual(s, want)) return std::nullopt;
    }
    return "signature mismatch";
}

std::chrono::milliseconds WebhookBackoff(int attempts, std::chrono::milliseconds base, std::chrono::milliseconds cap,
                                         double jitter01)
{
    using std::chrono::milliseconds;
    if (cap < base) cap = base;
    milliseconds nominal = base;
    for (int i = 1; i < attempts && nominal < cap; ++i) nominal *= 2;
    nominal = std::min(nominal, cap);
    if (!(jitter01 >= 0.0)) jitter01 = 0.0; // NaN too
    if (jitter01 >= 1.0) jitter01 = std::nextafter(1.0, 0.0);
    const double scaled = static_cast<double>(nominal.count()) * (0.5 + 0.5 * jitter01);
    return std::max(milliseconds{1}, milliseconds{static_cast<int64_t>(scaled)});
}

} // namespace vw::notify
