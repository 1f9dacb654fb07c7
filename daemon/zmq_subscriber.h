#pragma once
// The ZMQ SUB sockets are read on the chain executor's own thread: each socket's ZMQ_FD waits in
// Asio's reactor, and a message is parsed and handed to the follower in the handler that received
// it. A trigger then costs no thread hop between its frame and its answer (issue 18: that hop was
// the largest tail left in the reaction). While the executor is busy, messages wait inside libzmq.

#include "chain/zmq_message.h"

#include <boost/asio/any_io_executor.hpp>

#include <atomic>
#include <chrono>
#include <functional>
#include <memory>
#include <string>
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

//! What the subscriber holds at most. Messages the executor has not read yet wait inside libzmq,
//! up to the receive HWM per socket; past it the node's publisher drops them (at its own HWM), the
//! sequence numbers reveal the gap, and the chain follower reconciles with the node's RPC, its
//! truth. A flood on the socket costs memory up to here and no further.
struct ZmqLimits {
    //! Largest message part accepted; a peer sending more is disconnected by libzmq. A block is at
    //! most 4,000,000 bytes serialized (the weight limit), a transaction less.
    int64_t max_message_bytes{4'000'000 + 1024};
    int receive_hwm{10'000};      //!< messages queued per socket inside libzmq
    int receive_hwm_blocks{64};   //!< for a socket carrying rawblock: 64 blocks are at most 256 MB
    //! Messages handled in one turn of the executor before other work gets its turn. One: what a
    //! trigger's handler queued (its sweep's send) runs before the next message is read.
    int batch{1};
};

class ZmqSubscriber
{
public:
    using OnMessage = std::function<void(const std::string& endpoint, chain::ZmqMessage, ZmqArrival)>;
    using OnBad = std::function<void(const std::string& endpoint, std::string why)>;

    //! Handlers run on ex, in the handler that read the message: ex must be a single thread (or a
    //! strand). Start and Stop must be called on ex's thread, or while no thread runs ex.
    ZmqSubscriber(boost::asio::any_io_executor ex, std::vector<ZmqSubscription> subs, OnMessage on_msg, OnBad on_bad, ZmqLimits limits = {});
    ~ZmqSubscriber();
    void Start();
    //! Closes the sockets at once; no handler runs after it. Idempotent.
    void Stop();
    uint64_t received() const;
    //! Sockets replaced after a disconnect (see Impl::Reopen).
    uint64_t reopened() const;

private:
    struct Impl;
    std::shared_ptr<Impl> m_impl; //!< also held by every pending wait: it outlives us until they end
};

} // namespace vw::daemon
