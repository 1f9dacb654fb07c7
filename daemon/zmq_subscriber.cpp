#include "zmq_subscriber.h"

#include "file_perms.h"
#include "log.h"

#include <boost/asio/post.hpp>
#include <boost/asio/posix/stream_descriptor.hpp>
#include <zmq.hpp>
#include <zmq_addon.hpp>

#include <algorithm>

namespace vw::daemon {

namespace net = boost::asio;

struct ZmqSubscriber::Impl : std::enable_shared_from_this<Impl> {
    Impl(net::any_io_executor e, std::vector<ZmqSubscription> s, OnMessage m, OnBad b, ZmqLimits l)
        : ex(std::move(e)), subs(std::move(s)), on_msg(std::move(m)), on_bad(std::move(b)), limits(l)
    {
        static std::atomic<int> counter{0};
        mon_prefix = "inproc://vw-zmq-mon-" + std::to_string(counter++);
    }

    //! Whether an endpoint can only be the node's: asked at its first message and again every few
    //! seconds (the node restarting, permissions changed), said in the log when it changes.
    struct Trust {
        bool from_node{false};
        bool known{false};
        std::chrono::steady_clock::time_point at{};
    };
    //! One subscription: its SUB socket, the monitor that reports its disconnects, and the two
    //! ZMQ_FDs waiting in the reactor. The fds are libzmq's: released, never closed, by us.
    struct Sock {
        zmq::socket_t sub;
        zmq::socket_t mon;
        std::unique_ptr<net::posix::stream_descriptor> sub_fd;
        std::unique_ptr<net::posix::stream_descriptor> mon_fd;
        uint64_t generation{0}; //!< a wait or turn queued for an earlier socket finds another number
        Trust trust;
    };

    void Open(size_t i);
    void Close(Sock& s);
    void WaitSub(size_t i);
    void WaitMon(size_t i);
    void Drain(size_t i);
    void Monitor(size_t i);
    bool FromNode(size_t i);

    net::any_io_executor ex;
    std::vector<ZmqSubscription> subs;
    OnMessage on_msg;
    OnBad on_bad;
    ZmqLimits limits;
    std::string mon_prefix;
    zmq::context_t ctx{1};
    std::vector<Sock> socks;
    bool started{false};
    bool stopped{false};
    std::atomic<uint64_t> received{0};
    std::atomic<uint64_t> reopened{0};
};

void ZmqSubscriber::Impl::Open(size_t i)
{
    const auto& s = subs[i];
    auto& slot = socks[i];
    zmq::socket_t sock{ctx, zmq::socket_type::sub};
    const bool blocks = std::find(s.topics.begin(), s.topics.end(), "rawblock") != s.topics.end();
    // Bounded: past the HWM the node's PUB side drops at its own; the sequence numbers reveal it,
    // and the follower then asks the node. Oversized parts cut the peer.
    sock.set(zmq::sockopt::rcvhwm, blocks ? std::min(limits.receive_hwm, limits.receive_hwm_blocks) : limits.receive_hwm);
    sock.set(zmq::sockopt::maxmsgsize, limits.max_message_bytes);
    sock.set(zmq::sockopt::linger, 0);
    sock.set(zmq::sockopt::tcp_keepalive, 1);
    sock.set(zmq::sockopt::tcp_keepalive_idle, 60);
    sock.set(zmq::sockopt::reconnect_ivl, 100);
    sock.set(zmq::sockopt::reconnect_ivl_max, 5000);
    for (const auto& t : s.topics) sock.set(zmq::sockopt::subscribe, t);
    // libzmq reconnects by itself after a dropped connection, but not after a protocol error (a
    // part over maxmsgsize): that socket would stay silent for good. A disconnect seen on the
    // monitor therefore replaces the socket with a fresh one.
    const std::string mon_addr = mon_prefix + "-" + std::to_string(i) + "-" + std::to_string(reopened.load());
    if (zmq_socket_monitor(sock.handle(), mon_addr.c_str(), ZMQ_EVENT_DISCONNECTED) != 0) {
        log::Zmq()->warn("cannot monitor {}: {}", s.endpoint, zmq_strerror(zmq_errno()));
    }
    zmq::socket_t mon{ctx, zmq::socket_type::pair};
    mon.set(zmq::sockopt::linger, 0);
    mon.connect(mon_addr);
    sock.connect(s.endpoint);
    log::Zmq()->info("subscribed to {} on {}", fmt::join(s.topics, ","), s.endpoint);
    slot.sub_fd = std::make_unique<net::posix::stream_descriptor>(ex, sock.get(zmq::sockopt::fd));
    slot.mon_fd = std::make_unique<net::posix::stream_descriptor>(ex, mon.get(zmq::sockopt::fd));
    slot.sub = std::move(sock);
    slot.mon = std::move(mon);
    const uint64_t gen = ++slot.generation;
    // Edge-triggered: whatever is queued already raises no new edge, so read first, then wait; in
    // a turn of its own, so that nothing is handed over from inside Start or a reopen.
    net::post(ex, [self = shared_from_this(), i, gen] {
        if (self->stopped || self->socks[i].generation != gen) return;
        self->Drain(i);
        if (self->stopped || self->socks[i].generation != gen) return;
        self->Monitor(i);
    });
}

void ZmqSubscriber::Impl::Close(Sock& s)
{
    ++s.generation;
    if (s.sub_fd) s.sub_fd->release(); // aborts the wait; the fd stays libzmq's
    if (s.mon_fd) s.mon_fd->release();
    s.sub_fd.reset();
    s.mon_fd.reset();
    s.sub.close(); // also ends its monitor
    s.mon.close();
}

void ZmqSubscriber::Impl::WaitSub(size_t i)
{
    socks[i].sub_fd->async_wait(net::posix::descriptor_base::wait_read,
                                [self = shared_from_this(), i, gen = socks[i].generation](const boost::system::error_code& ec) {
                                    if (ec || self->stopped || self->socks[i].generation != gen) return;
                                    self->Drain(i);
                                });
}

void ZmqSubscriber::Impl::WaitMon(size_t i)
{
    socks[i].mon_fd->async_wait(net::posix::descriptor_base::wait_read,
                                [self = shared_from_this(), i, gen = socks[i].generation](const boost::system::error_code& ec) {
                                    if (ec || self->stopped || self->socks[i].generation != gen) return;
                                    self->Monitor(i);
                                });
}

bool ZmqSubscriber::Impl::FromNode(size_t i)
{
    auto& t = socks[i].trust;
    const auto now = std::chrono::steady_clock::now();
    if (t.known && now - t.at < std::chrono::seconds{3}) return t.from_node;
    const auto why_not = CheckNodeOnlySocket(subs[i].endpoint);
    if (!t.known || t.from_node != !why_not) {
        if (why_not) {
            log::Zmq()->info("announcements on {} are confirmed with the node before they are acted on: {}", subs[i].endpoint, *why_not);
        } else {
            log::Zmq()->info("announcements on {} are the node's own (a socket only its user can bind): acted on at once", subs[i].endpoint);
        }
    }
    t = Trust{!why_not, true, now};
    return t.from_node;
}

void ZmqSubscriber::Impl::Drain(size_t i)
{
    const uint64_t gen = socks[i].generation;
    const std::string& ep = subs[i].endpoint;
    for (int n = 0; n < limits.batch; ++n) {
        auto& sock = socks[i].sub;
        ZmqArrival arrival;
        std::vector<zmq::message_t> parts;
        try {
            // ZMQ_EVENTS first: it also takes libzmq's pending commands, so the fd's next edge
            // comes with the next message once this says there is none.
            if (!(sock.get(zmq::sockopt::events) & ZMQ_POLLIN)) return WaitSub(i);
            if (!zmq::recv_multipart(sock, std::back_inserter(parts), zmq::recv_flags::dontwait)) continue; // asks ZMQ_EVENTS again
            arrival.at = std::chrono::steady_clock::now();
        } catch (const zmq::error_t& e) {
            log::Zmq()->warn("recv on {}: {}", ep, e.what());
            return WaitSub(i);
        }
        received.fetch_add(1, std::memory_order_relaxed);
        std::vector<ByteSpan> frames;
        frames.reserve(parts.size());
        for (auto& p : parts) frames.emplace_back(static_cast<const uint8_t*>(p.data()), p.size());
        auto msg = chain::ParseZmqMessage(frames); // copies the body into owned storage
        if (!msg) {
            on_bad(ep, std::string(chain::ToString(msg.error())));
        } else {
            arrival.from_node = FromNode(i);
            on_msg(ep, std::move(*msg), arrival);
        }
        if (stopped || socks[i].generation != gen) return; // stopped or replaced by what we called
    }
    // More may be queued: let other work run first, then come back (no edge will come for it).
    net::post(ex, [self = shared_from_this(), i, gen] {
        if (self->stopped || self->socks[i].generation != gen) return;
        self->Drain(i);
    });
}

void ZmqSubscriber::Impl::Monitor(size_t i)
{
    bool disconnected = false;
    for (;;) {
        std::vector<zmq::message_t> ev;
        try {
            if (!(socks[i].mon.get(zmq::sockopt::events) & ZMQ_POLLIN)) break;
            if (!zmq::recv_multipart(socks[i].mon, std::back_inserter(ev), zmq::recv_flags::dontwait)) break;
        } catch (const zmq::error_t& e) {
            log::Zmq()->warn("monitor of {}: {}", subs[i].endpoint, e.what());
            break;
        }
        disconnected = true;
    }
    if (!disconnected) return WaitMon(i);
    log::Zmq()->warn("disconnected from {}: subscribing again", subs[i].endpoint);
    reopened.fetch_add(1);
    Close(socks[i]);
    Open(i);
    on_bad(subs[i].endpoint, "disconnected: subscribed again");
}

ZmqSubscriber::ZmqSubscriber(net::any_io_executor ex, std::vector<ZmqSubscription> subs, OnMessage on_msg, OnBad on_bad, ZmqLimits limits)
    : m_impl(std::make_shared<Impl>(std::move(ex), std::move(subs), std::move(on_msg), std::move(on_bad), limits))
{
}

ZmqSubscriber::~ZmqSubscriber() { Stop(); }

void ZmqSubscriber::Start()
{
    auto& d = *m_impl;
    if (d.started || d.stopped) return;
    d.started = true;
    d.socks.resize(d.subs.size());
    for (size_t i = 0; i < d.subs.size(); ++i) d.Open(i);
}

void ZmqSubscriber::Stop()
{
    auto& d = *m_impl;
    if (d.stopped) return;
    d.stopped = true;
    for (auto& s : d.socks) d.Close(s);
}

uint64_t ZmqSubscriber::received() const { return m_impl->received.load(); }
uint64_t ZmqSubscriber::reopened() const { return m_impl->reopened.load(); }

} // namespace vw::daemon
