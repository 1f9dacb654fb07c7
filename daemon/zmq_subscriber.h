#pragma once
// The ZMQ SUB sockets live on one dedicated thread. Frames are copied into owned buffers and
// parsed there; parsed messages are handed to the chain executor with a post. An inproc PAIR
// socket wakes the thread for a prompt stop.

#include "chain/zmq_message.h"

#include <boost/asio/any_io_executor.hpp>

#include <atomic>
#include <functional>
#include <memory>
#include <string>
#include <thread>
#include <vector>

namespace vw::daemon {

struct ZmqSubscription {
    std::string endpoint;          //!< e.g. tcp://127.0.0.1:28332
    std::vector<std::string> topics; //!< "rawtx", "hashblock", "rawblock", "sequence"
};

class ZmqSubscriber
{
public:
    using OnMessage = std::function<void(const std::string& endpoint, chain::ZmqMessage)>;
    using OnBad = std::function<void(const std::string& endpoint, std::string why)>;

    //! Handlers run on ex (posted), never on the ZMQ thread.
    ZmqSubscriber(boost::asio::any_io_executor ex, std::vector<ZmqSubscription> subs, OnMessage on_msg, OnBad on_bad);
    ~ZmqSubscriber();
    void Start();
    void Stop();
    uint64_t received() const { return m_received.load(); }

private:
    void ThreadMain();

    boost::asio::any_io_executor m_ex;
    std::vector<ZmqSubscription> m_subs;
    OnMessage m_on_msg;
    OnBad m_on_bad;
    struct Impl;
    std::unique_ptr<Impl> m_impl;
    std::thread m_thread;
    std::atomic<uint64_t> m_received{0};
};

} // namespace vw::daemon
