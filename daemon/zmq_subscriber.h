#pragma once
// The ZMQ SUB sockets live on one dedicated thread. Frames are copied into owned buffers and
// parsed there; parsed messages are handed to the chain executor with a post. An inproc PAIR
// socket wakes the thread for a prompt stop.

#include "chain/zmq_message.h"

#include <boost/asio/any_io_executor.hpp>

#include <atomic>
#include <chrono>
#include <functional>
#include <memory>
#include <string>
#include <thread>
#include <vector>

namespace vw::daemon {

//! How a message came: when it was received, and whether its endpoint is a socket only the node's
//! user can have bound (CheckNodeOnlySocket, checked again every few seconds while messages
//! arrive): then what it says is the node's own word.
struct ZmqArrival {
    bool from_node{false};
    std::chrono::steady_clock::time_point at{};
};

struct ZmqSubscription {
    std::string endpoint;          //!< e.g. tcp://127.0.0.1:28332
    std::vector<std::string> topics; //!< "rawtx", "hashblock", "rawblock", "sequence"
};

//! What the subscriber holds at most. Beyond these a message is dropped (on_bad is told once per
//! overflow, and the chain follower reconciles with the node's RPC, its truth, as for a gap):
//! a flood on the socket costs memory up to here and no further.
struct ZmqLimits {
    //! Largest message part accepted; a peer sending more is disconnected by libzmq. A block is at
    //! most 4,000,000 bytes serialized (the weight limit), a transaction less.
    int64_t max_message_bytes{4'000'000 + 1024};
    int receive_hwm{10'000};                    //!< messages queued per socket inside libzmq
    size_t max_pending{10'000};                 //!< parsed messages waiting for the chain executor
    size_t max_pending_bytes{256u << 20};       //!< and their bytes
};

class ZmqSubscriber
{
public:
    using OnMessage = std::function<void(const std::string& endpoint, chain::ZmqMessage, ZmqArrival)>;
    using OnBad = std::function<void(const std::string& endpoint, std::string why)>;

    //! Handlers run on ex (posted), never on the ZMQ thread.
    ZmqSubscriber(boost::asio::any_io_executor ex, std::vector<ZmqSubscription> subs, OnMessage on_msg, OnBad on_bad, ZmqLimits limits = {});
    ~ZmqSubscriber();
    void Start();
    void Stop();
    uint64_t received() const { return m_received.load(); }
    uint64_t dropped() const { return m_dropped.load(); }
    //! Sockets replaced after a disconnect (see ThreadMain).
    uint64_t reopened() const { return m_reopened.load(); }

private:
    void ThreadMain();

    boost::asio::any_io_executor m_ex;
    std::vector<ZmqSubscription> m_subs;
    OnMessage m_on_msg;
    OnBad m_on_bad;
    struct Impl;
    std::unique_ptr<Impl> m_impl;
    std::thread m_thread;
    ZmqLimits m_limits;
    std::atomic<uint64_t> m_received{0};
    std::atomic<uint64_t> m_dropped{0};
    std::atomic<uint64_t> m_reopened{0};
    std::atomic<bool> m_stop{false};
    std::atomic<size_t> m_pending{0};       //!< posted, not yet handled
    std::atomic<size_t> m_pending_bytes{0};
};

} // namespace vw::daemon
