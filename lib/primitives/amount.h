#pragma once
#include <compare>
#include <cstdint>
#include <optional>

namespace vw {

//! An amount of satoshis. No floating point anywhere; arithmetic is checked by the callers that
//! take amounts from outside (MoneyRange).
class Amount
{
public:
    constexpr Amount() = default;
    constexpr explicit Amount(int64_t sats) : m_sats(sats) {}
    static constexpr Amount Sats(int64_t s) { return Amount{s}; }
    constexpr int64_t sats() const { return m_sats; }

    constexpr Amount operator+(Amount o) const { return Amount{m_sats + o.m_sats}; }
    constexpr Amount operator-(Amount o) const { return Amount{m_sats - o.m_sats}; }
    constexpr Amount& operator+=(Amount o) { m_sats += o.m_sats; return *this; }
    constexpr Amount& operator-=(Amount o) { m_sats -= o.m_sats; return *this; }
    friend constexpr auto operator<=>(Amount, Amount) = default;

private:
    int64_t m_sats{0};
};

inline constexpr Amount COIN{100'000'000};
inline constexpr Amount MAX_MONEY{21'000'000 * 100'000'000LL};
constexpr bool MoneyRange(Amount a) { return a >= Amount{0} && a <= MAX_MONEY; }

//! Returns: a + b if both and the sum are in MoneyRange, else nullopt.
constexpr std::optional<Amount> CheckedAdd(Amount a, Amount b)
{
    if (!MoneyRange(a) || !MoneyRange(b) || !MoneyRange(a + b)) return std::nullopt;
    return a + b;
}

} // namespace vw
