#pragma once
// util::Expected: the low-level error channel (model: Bitcoin Core util/expected.h).
// C++20 lacks std::expected; this is the small subset the core needs.

#include <cassert>
#include <type_traits>
#include <utility>
#include <variant>

namespace vw {

template <typename E>
class Unexpected
{
public:
    constexpr explicit Unexpected(E e) : m_error(std::move(e)) {}
    constexpr const E& error() const& noexcept { return m_error; }
    constexpr E&& error() && noexcept { return std::move(m_error); }

private:
    E m_error;
};

//! Holds either a value of type T or an error of type E. Accessing the wrong one is a bug (asserts).
template <typename T, typename E>
class [[nodiscard]] Expected
{
public:
    constexpr Expected() requires std::is_default_constructible_v<T> : m_data{std::in_place_index<0>} {}
    constexpr Expected(T value) : m_data{std::in_place_index<0>, std::move(value)} {}
    template <typename Err>
    constexpr Expected(Unexpected<Err> u) : m_data{std::in_place_index<1>, std::move(u).error()} {}

    constexpr bool has_value() const noexcept { return m_data.index() == 0; }
    constexpr explicit operator bool() const noexcept { return has_value(); }

    constexpr const T& value() const& { assert(has_value()); return std::get<0>(m_data); }
    constexpr T& value() & { assert(has_value()); return std::get<0>(m_data); }
    constexpr T&& value() && { assert(has_value()); return std::get<0>(std::move(m_data)); }
    constexpr const T& operator*() const& { return value(); }
    constexpr T& operator*() & { return value(); }
    constexpr T&& operator*() && { return std::move(*this).value(); }
    constexpr const T* operator->() const { return &value(); }
    constexpr T* operator->() { return &value(); }

    constexpr const E& error() const& { assert(!has_value()); return std::get<1>(m_data); }
    constexpr E& error() & { assert(!has_value()); return std::get<1>(m_data); }

private:
    std::variant<T, E> m_data;
};

//! Expected<void, E>: success or an error.
template <typename E>
class [[nodiscard]] Expected<void, E>
{
public:
    constexpr Expected() = default;
    template <typename Err>
    constexpr Expected(Unexpected<Err> u) : m_error{std::move(u).error()}, m_ok{false} {}
    constexpr bool has_value() const noexcept { return m_ok; }
    constexpr explicit operator bool() const noexcept { return m_ok; }
    constexpr const E& error() const& { assert(!m_ok); return m_error; }

private:
    E m_error{};
    bool m_ok{true};
};

} // namespace vw
