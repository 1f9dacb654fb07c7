#include "sim_json.h"

#include <cinttypes>
#include <cstdio>
#include <cstdlib>

namespace vw::sim {

namespace {
constexpr char RAW_MARK = '\x01';

json::value Raw(std::string text)
{
    std::string s(1, RAW_MARK);
    s += text;
    return json::value(json::string(s));
}

bool NeedsEscape(unsigned char c) { return c < 0x20 || c == '"' || c == '\\' || c == 0x7f; }

void WriteString(std::string& out, std::string_view s)
{
    // UniValue escapes '"', '\\', control characters and 0x7f; everything else is copied as is.
    // Runs of characters that need no escaping are appended at once (block hex is megabytes).
    if (s.size() > 256) out.reserve(out.size() + s.size() + 2);
    out += '"';
    size_t run = 0;
    for (size_t i = 0; i < s.size(); ++i) {
        const auto c = static_cast<unsigned char>(s[i]);
        if (!NeedsEscape(c)) continue;
        out.append(s.data() + run, i - run);
        run = i + 1;
        switch (c) {
        case '"': out += "\\\""; break;
        case '\\': out += "\\\\"; break;
        case '\b': out += "\\b"; break;
        case '\f': out += "\\f"; break;
        case '\n': out += "\\n"; break;
        case '\r': out += "\\r"; break;
        case '\t': out += "\\t"; break;
        default: {
            char buf[8];
            std::snprintf(buf, sizeof(buf), "\\u%04x", c);
            out += buf;
        }
        }
    }
    out.append(s.data() + run, s.size() - run);
    out += '"';
}

void Write(std::string& out, const json::value& v)
{
    switch (v.kind()) {
    case json::kind::null: out += "null"; break;
    case json::kind::bool_: out += v.get_bool() ? "true" : "false"; break;
    case json::kind::int64: out += std::to_string(v.get_int64()); break;
    case json::kind::uint64: out += std::to_string(v.get_uint64()); break;
    case json::kind::double_: {
        char buf[64];
        std::snprintf(buf, sizeof(buf), "%.16g", v.get_double());
        out += buf;
        break;
    }
    case json::kind::string: {
        const auto& s = v.get_string();
        if (!s.empty() && s[0] == RAW_MARK) {
            out.append(s.data() + 1, s.size() - 1);
        } else {
            WriteString(out, std::string_view(s.data(), s.size()));
        }
        break;
    }
    case json::kind::array: {
        out += '[';
        bool first = true;
        for (const auto& e : v.get_array()) {
            if (!first) out += ',';
            first = false;
            Write(out, e);
        }
        out += ']';
        break;
    }
    case json::kind::object: {
        out += '{';
        bool first = true;
        for (const auto& kv : v.get_object()) {
            if (!first) out += ',';
            first = false;
            WriteString(out, std::string_view(kv.key().data(), kv.key().size()));
            out += ':';
            Write(out, kv.value());
        }
        out += '}';
        break;
    }
    }
}
} // namespace

json::value AmountValue(int64_t sats)
{
    const bool neg = sats < 0;
    const uint64_t abs = neg ? static_cast<uint64_t>(-(sats + 1)) + 1 : static_cast<uint64_t>(sats);
    char buf[48];
    std::snprintf(buf, sizeof(buf), "%s%" PRIu64 ".%08" PRIu64, neg ? "-" : "", abs / 100000000, abs % 100000000);
    return Raw(buf);
}

json::value HexValue(std::string_view hex)
{
    std::string s;
    s.reserve(hex.size() + 3);
    s += RAW_MARK;
    s += '"';
    s.append(hex);
    s += '"';
    return json::value(json::string(s));
}

json::value DoubleValue(double d)
{
    char buf[64];
    std::snprintf(buf, sizeof(buf), "%.16g", d);
    return Raw(buf);
}

std::string FormatMoney(int64_t sats)
{
    const bool neg = sats < 0;
    const uint64_t abs = neg ? static_cast<uint64_t>(-(sats + 1)) + 1 : static_cast<uint64_t>(sats);
    char buf[48];
    std::snprintf(buf, sizeof(buf), "%" PRIu64 ".%08" PRIu64, abs / 100000000, abs % 100000000);
    std::string s = buf;
    while (s.size() > 1 && s.back() == '0' && s[s.size() - 2] != '.') s.pop_back();
    return (neg ? "-" : "") + s;
}

std::string WriteJson(const json::value& v)
{
    std::string out;
    Write(out, v);
    return out;
}

std::optional<int64_t> ParseAmount(const json::value& v)
{
    std::string text;
    if (v.is_string()) {
        text = std::string(v.get_string());
    } else if (v.is_int64()) {
        text = std::to_string(v.get_int64());
    } else if (v.is_uint64()) {
        text = std::to_string(v.get_uint64());
    } else if (v.is_double()) {
        char buf[64];
        std::snprintf(buf, sizeof(buf), "%.8f", v.get_double());
        text = buf;
    } else {
        return std::nullopt;
    }
    // Fixed-point parse, max 8 decimals.
    size_t i = 0;
    if (text.empty()) return std::nullopt;
    int64_t whole = 0, frac = 0;
    int frac_digits = 0;
    bool dot = false, any = false;
    for (; i < text.size(); ++i) {
        char c = text[i];
        if (c == '.') {
            if (dot) return std::nullopt;
            dot = true;
            continue;
        }
        if (c < '0' || c > '9') return std::nullopt;
        any = true;
        if (dot) {
            if (++frac_digits > 8) {
                if (c != '0') return std::nullopt;
                --frac_digits;
                continue;
            }
            frac = frac * 10 + (c - '0');
        } else {
            whole = whole * 10 + (c - '0');
            if (whole > 21'000'000) return std::nullopt;
        }
    }
    if (!any) return std::nullopt;
    while (frac_digits++ < 8) frac *= 10;
    return whole * 100'000'000 + frac;
}

std::string JsonTypeName(const json::value& v)
{
    switch (v.kind()) {
    case json::kind::null: return "null";
    case json::kind::bool_: return "bool";
    case json::kind::int64:
    case json::kind::uint64:
    case json::kind::double_: return "number";
    case json::kind::string: return "string";
    case json::kind::array: return "array";
    case json::kind::object: return "object";
    }
    return "null";
}

} // namespace vw::sim
