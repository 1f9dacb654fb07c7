#pragma once
// Invariant checks: for bugs, never for input. Input errors are returned as Expected/Result.
#include <cstdio>
#include <cstdlib>

namespace vw::detail {
// __builtin_FILE/LINE/FUNCTION rather than std::source_location: clang 14 (the fuzz build) can not
// compile libstdc++'s <source_location>; both compilers evaluate these at the call site.
[[noreturn]] inline void AssertFail(const char* expr, const char* file = __builtin_FILE(), unsigned line = __builtin_LINE(),
                                    const char* function = __builtin_FUNCTION())
{
    std::fprintf(stderr, "vaultwatch: internal bug: assertion '%s' failed at %s:%u (%s)\n", expr, file, line, function);
    std::abort();
}
} // namespace vw::detail

//! Always on, even in release builds: the watchtower must stop rather than act on broken state.
#define VW_ASSERT(expr) ((expr) ? void(0) : ::vw::detail::AssertFail(#expr))
