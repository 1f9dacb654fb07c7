#include "crypto/base58.h"

#include "crypto/sha256.h"

#include <algorithm>

namespace vw {
namespace {
constexpr std::string_view kAlphabet = "123456789ABCDEFGHJKLMNPQRSTUVWXYZabcdefghijkmnopqrstuvwxyz";
} // namespace

std::string EncodeBase58(ByteSpan data)
{
    size_t zeros = 0;
    while (zeros < data.size() && data[zeros] == 0) ++zeros;
    // Big-endian base-256 to base-58, digits least significant first.
    std::vector<uint8_t> digits;
    digits.reserve(data.size() * 138 / 100 + 1);
    for (size_t i = zeros; i < data.size(); ++i) {
        int carry = data[i];
        for (auto& d : digits) {
            carry += 256 * d;
            d = static_cast<uint8_t>(carry % 58);
            carry /= 58;
        }
        while (carry > 0) {
            digits.push_back(static_cast<uint8_t>(carry % 58));
            carry /= 58;
        }
    }
    std::string out(zeros, '1');
    for (auto it = digits.rbegin(); it != digits.rend(); ++it) out.push_back(kAlphabet[*it]);
    return out;
}

std::optional<Bytes> DecodeBase58(std::string_view s, size_t max_len)
{
    if (s.size() > max_len) return std::nullopt;
    size_t ones = 0;
    while (ones < s.size() && s[ones] == '1') ++ones;
    std::vector<uint8_t> bytes; // least significant first
    for (size_t i = ones; i < s.size(); ++i) {
        const auto pos = kAlphabet.find(s[i]);
        if (pos == std::string_view::npos) return std::nullopt;
        int carry = static_cast<int>(pos);
        for (auto& b : bytes) {
            carry += 58 * b;
            b = static_cast<uint8_t>(carry & 0xff);
            carry >>= 8;
        }
        while (carry > 0) {
            bytes.push_back(static_cast<uint8_t>(carry & 0xff));
            carry >>= 8;
        }
    }
    Bytes out(ones, 0);
    out.insert(out.end(), bytes.rbegin(), bytes.rend());
    return out;
}

std::string EncodeBase58Check(ByteSpan data)
{
    Bytes buf(data.begin(), data.end());
    const Uint256 h = crypto::Sha256d(data);
    buf.insert(buf.end(), h.bytes.begin(), h.bytes.begin() + 4);
    return EncodeBase58(buf);
}

std::optional<Bytes> DecodeBase58Check(std::string_view s, size_t max_len)
{
    auto b = DecodeBase58(s, max_len);
    if (!b || b->size() < 4) return std::nullopt;
    const ByteSpan payload{b->data(), b->size() - 4};
    const Uint256 h = crypto::Sha256d(payload);
    if (!std::equal(h.bytes.begin(), h.bytes.begin() + 4, b->end() - 4)) return std::nullopt;
    b->resize(b->size() - 4);
    return b;
}

} // namespace vw
