#pragma once
// Internal state of RegtestSim, shared by regtest_sim.cpp (transport, control) and
// rpc_methods.cpp (RPC method bodies). Everything here lives on the io thread.

#include "regtest_sim.h"
#include "sim_json.h"

#include <boost/asio.hpp>

#include <condition_variable>
#include <functional>
#include <future>
#include <mutex>
#include <set>
#include <thread>

namespace vw::sim {

namespace asio = boost::asio;
using tcp = asio::ip::tcp;

struct RegtestSim::Impl {
    explicit Impl(SimConfig c);

    SimConfig cfg;
    asio::io_context io;
    std::optional<asio::executor_work_guard<asio::io_context::executor_type>> work;
    std::thread thread;
    zmq::context_t zctx;
    std::unique_ptr<ZmqPublisher> zmq;
    std::unique_ptr<Node> node;

    // transport
    std::shared_ptr<tcp::acceptor> acceptor;
    uint16_t port{0};
    std::set<std::shared_ptr<tcp::socket>> sessions;

    // node process state
    std::string cookie_secret;
    std::chrono::steady_clock::time_point start_time;
    bool warmup{false};
    std::string warmup_msg;
    std::chrono::milliseconds slow{0};
    int authfail{0};
    bool unreachable{false};
    bool restarting{false};
    std::optional<int64_t> fee_estimate;
    std::optional<int64_t> mocktime;
    std::optional<std::string> reject_reason;
    std::optional<std::pair<size_t, size_t>> last_template;  //!< weight, non-coinbase tx count  //!< simreject: refuse every tx with this -26 reason

    struct BadReplies {
        int n{0};
        BadReply kind{BadReply::TruncatedJson};
        std::string method;
    } bad_replies;

    // persistence (SimConfig::persist)
    std::string saved_tip;
    std::optional<uint64_t> saved_mempool_seq;
    size_t saved_mempool_size{0};

    // shutdown
    mutable std::mutex mu;
    std::condition_variable cv;
    bool shutdown{false};
    bool started{false};

    //! Actions to run after the current RPC reply has been written (stop, restart, ...).
    std::vector<std::function<void()>> after_reply;

    int64_t Now() const;

    // transport (regtest_sim.cpp)
    void OpenListener();
    void CloseListener();
    void CloseSessions();
    void WriteCookie();
    void RemoveCookie();
    std::string ExpectedUser() const;
    std::string ExpectedPassword() const;
    void Shutdown();
    void BeginRestart(std::function<void()> done, int lose_blocks = 0);
    void SetUnreachable(bool on);

    // persistence (regtest_sim.cpp)
    std::filesystem::path StateDir() const { return cfg.datadir / "regtest"; }
    bool HasSavedChain() const;
    void LoadChain();    //!< before the listener opens; ZMQ silent
    void LoadMempool();  //!< announced, as bitcoind's LoadMempool
    void MaybePersist(); //!< writes what changed since the last call

    // faults (regtest_sim.cpp)
    void ZmqGarbageNow(ZmqGarbage kind, const std::string& topic);

    // RPC (rpc_methods.cpp): runs one call on the io thread; throws RpcError.
    static bool IsSimMethod(const std::string& method);
    boost::json::value Execute(const std::string& method, const boost::json::value& params);

    // control helpers
    std::vector<std::string> GenerateBlocks(int n, const Bytes& spk);
    std::vector<std::string> DoReorg(int depth);

    //! Runs f on the io thread and waits for its result (must not be called from that thread).
    template <typename F>
    auto RunSync(F f) -> decltype(f())
    {
        using R = decltype(f());
        std::packaged_task<R()> task(std::move(f));
        auto fut = task.get_future();
        asio::post(io, [&task] { task(); });
        return fut.get();
    }
};

} // namespace vw::sim
