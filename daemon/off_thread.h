#pragma once
// Work too long for the thread that answers triggers: parsing a large node reply (a block is
// megabytes of hex; a mainnet mempool snapshot is 20 MB of JSON, 60-80 ms to parse and decode)
// runs on a helper thread, and the coroutine resumes on its own executor with the result. Small
// replies stay where they are: the hop costs more than it saves (and the tests that run the
// daemon's io_context step by step see them complete at once).

#include <boost/asio/awaitable.hpp>
#include <boost/asio/async_result.hpp>
#include <boost/asio/executor_work_guard.hpp>
#include <boost/asio/post.hpp>
#include <boost/asio/this_coro.hpp>
#include <boost/asio/thread_pool.hpp>
#include <boost/asio/use_awaitable.hpp>

#include <cstddef>
#include <optional>
#include <type_traits>

namespace vw::daemon {

//! Replies at least this large are parsed off the I/O thread (about 1 ms of parsing).
constexpr size_t kOffThreadBytes = 512 * 1024;

//! One helper thread for the process, started at first use.
boost::asio::thread_pool& HelperThread();

//! f() on the helper thread; the caller resumes on its own executor. The handler that resumes
//! it owns the caller's frame, so f and the result, kept there, live until it has run.
template <typename F>
boost::asio::awaitable<std::invoke_result_t<F&>> OffThread(F f)
{
    using R = std::invoke_result_t<F&>;
    auto ex = co_await boost::asio::this_coro::executor;
    std::optional<R> out;
    co_await boost::asio::async_initiate<const boost::asio::use_awaitable_t<>, void()>(
        [&](auto handler) {
            auto work = boost::asio::make_work_guard(ex);
            boost::asio::post(HelperThread(), [&, handler = std::move(handler), work = std::move(work)]() mutable {
                out.emplace(f());
                auto back = work.get_executor();
                boost::asio::post(back, std::move(handler));
            });
        },
        boost::asio::use_awaitable);
    co_return std::move(*out);
}

} // namespace vw::daemon
