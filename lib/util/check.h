#pragma once
// Invariant checks: for bugs, never for input. Input errors are returned as Expected/Result.
#include <cstdio>
#include <cstdlib>
#include <source_location>

namespace vw::detail {
[[noreturn]] inline void AssertFail(const char* expr, std::source_location loc = std::source_location::current())
{
    std::fprintf(stderr, "vaultwatch: internal bug: assertion '%s' failed at %s:%u (%s)\n", expr, loc.file_name(),
                 static_cast<unsigned>(loc.line()), loc.function_name());
    std::abort();
}
} // namespace vw::detail

//! Always on, even in release builds: the watchtower must stop rather than act on broken state.
#define VW_ASSERT(expr) ((expr) ? void(0) : ::vw::detail::AssertFail(#expr))
