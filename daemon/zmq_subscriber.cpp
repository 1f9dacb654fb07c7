#include "zmq_subscriber.h"

#include "file_perms.h"
#include "log.h"

#include <boost/asio/post.hpp>
#include <zmq.hpp>
#include <zmq_addon.hpp>

#include <pthread.h>

namespace vw::daemon {

struct ZmqSubscriber::Impl {
    zmq::context_t ctx{1};
    zmq::socket_t interrupt_tx{ctx, zmq::socket_type::pair};
    std::string interrupt_addr;
};

ZmqSubscriber::ZmqSubscriber(boost::asio::any_io_executor ex, std::vector<ZmqSubscription> subs, OnMessage on_msg, OnBad on_bad,
                             ZmqLimits limits)
    : m_ex(std::move(ex)), m_subs(std::move(subs)), m_on_msg(std::move(on_msg)), m_on_bad(std::move(on_bad)),
      m_impl(std::make_unique<Impl>()), m_limits(limits)
{
    static std::atomic<int> counter{0};
    m_impl->interrupt_addr = "inproc://vw-zmq-interrupt-" + std::to_string(counter++);
}

ZmqSubscriber::~ZmqSubscriber() { Stop(); }

void ZmqSubscriber::Start()
{
    m_impl->interrupt_tx.bind(m_impl->interrupt_addr);
    m_thread = std::thread([this] { ThreadMain(); });
}

void ZmqSubscriber::Stop()
{
    if (!m_thread.joinable()) return;
    // The flag is what stops the thread: the wake-up below is lost if the thread has not
    // connected its end of the pair yet (a stop right after the start), and then the thread
    // sees the flag at its next poll timeout.
    m_stop.store(true);
    m_impl->interrupt_tx.send(zmq::str_buffer("stop"), zmq::send_flags::dontwait);
    m_thread.join();
}

void ZmqSubscriber::ThreadMain()
{
    pthread_setname_np(pthread_self(), "vw-zmq");
    zmq::socket_t interrupt_rx{m_impl->ctx, zmq::socket_type::pair};
    interrupt_rx.connect(m_impl->interrupt_addr);
    // Each SUB socket has a monitor. libzmq reconnects by itself after a dropped connection, but
    // not after a protocol error (a part over maxmsgsize): that socket would stay silent for good.
    // A disconnect seen on the monitor therefore replaces the socket with a fresh one.
    std::vector<zmq::socket_t> socks;
    std::vector<zmq::socket_t> monitors;
    auto open = [&](size_t i) {
        const auto& s = m_subs[i];
        zmq::socket_t sock{m_impl->ctx, zmq::socket_type::sub};
        // Bounded: past the HWM libzmq drops, as bitcoind's PUB side may at its own; the sequence
        // numbers reveal either, and the follower then asks the node. Oversized parts cut the peer.
        sock.set(zmq::sockopt::rcvhwm, m_limits.receive_hwm);
        sock.set(zmq::sockopt::maxmsgsize, m_limits.max_message_bytes);
        sock.set(zmq::sockopt::tcp_keepalive, 1);
        sock.set(zmq::sockopt::tcp_keepalive_idle, 60);
        sock.set(zmq::sockopt::reconnect_ivl, 100);
        sock.set(zmq::sockopt::reconnect_ivl_max, 5000);
        for (const auto& t : s.topics) sock.set(zmq::sockopt::subscribe, t);
        const std::string mon_addr = m_impl->interrupt_addr + "-mon-" + std::to_string(i) + "-" + std::to_string(m_reopened.load());
        if (zmq_socket_monitor(sock.handle(), mon_addr.c_str(), ZMQ_EVENT_DISCONNECTED) != 0) {
            log::Zmq()->warn("cannot monitor {}: {}", s.endpoint, zmq_strerror(zmq_errno()));
        }
        zmq::socket_t mon{m_impl->ctx, zmq::socket_type::pair};
        mon.connect(mon_addr);
        sock.connect(s.endpoint);
        log::Zmq()->info("subscribed to {} on {}", fmt::join(s.topics, ","), s.endpoint);
        if (i < socks.size()) {
            socks[i] = std::move(sock);
            monitors[i] = std::move(mon);
        } else {
            socks.push_back(std::move(sock));
            monitors.push_back(std::move(mon));
        }
    };
    for (size_t i = 0; i < m_subs.size(); ++i) open(i);
    bool overflowing = false; // told on_bad once per episode, not once per dropped message
    std::vector<zmq::pollitem_t> items;
    auto make_items = [&] {
        items.clear();
        items.push_back({interrupt_rx.handle(), 0, ZMQ_POLLIN, 0});
        for (auto& s : socks) items.push_back({s.handle(), 0, ZMQ_POLLIN, 0});
        for (auto& m : monitors) items.push_back({m.handle(), 0, ZMQ_POLLIN, 0});
    };
    make_items();
    // Whether each endpoint can only be the node's: asked at its first message and again every
    // few seconds (the node restarting, permissions changed), said in the log when it changes.
    struct Trust {
        bool from_node{false};
        bool known{false};
        std::chrono::steady_clock::time_point at{};
    };
    std::vector<Trust> trust(m_subs.size());
    auto from_node = [&](size_t i) {
        auto& t = trust[i];
        const auto now = std::chrono::steady_clock::now();
        if (t.known && now - t.at < std::chrono::seconds{3}) return t.from_node;
        const auto why_not = CheckNodeOnlySocket(m_subs[i].endpoint);
        if (!t.known || t.from_node != !why_not) {
            if (why_not) {
                log::Zmq()->info("announcements on {} are confirmed with the node before they are acted on: {}", m_subs[i].endpoint, *why_not);
            } else {
                log::Zmq()->info("announcements on {} are the node's own (a socket only its user can bind): acted on at once", m_subs[i].endpoint);
            }
        }
        t = Trust{!why_not, true, now};
        return t.from_node;
    };
    for (;;) {
        try {
            if (m_stop.load()) return;
            zmq::poll(items.data(), items.size(), std::chrono::milliseconds{250});
        } catch (const zmq::error_t& e) {
            if (e.num() == EINTR) continue;
            log::Zmq()->error("poll: {}", e.what());
            return;
        }
        if (items[0].revents & ZMQ_POLLIN) return;
        bool reopened = false;
        for (size_t i = 0; i < monitors.size(); ++i) {
            if (!(items[1 + socks.size() + i].revents & ZMQ_POLLIN)) continue;
            std::vector<zmq::message_t> ev;
            try {
                if (!zmq::recv_multipart(monitors[i], std::back_inserter(ev), zmq::recv_flags::dontwait)) continue;
            } catch (const zmq::error_t& e) {
                log::Zmq()->warn("monitor of {}: {}", m_subs[i].endpoint, e.what());
                continue;
            }
            log::Zmq()->warn("disconnected from {}: subscribing again", m_subs[i].endpoint);
            m_reopened.fetch_add(1);
            socks[i].close(); // also ends its monitor
            open(i);
            reopened = true;
            boost::asio::post(m_ex, [this, ep = m_subs[i].endpoint] { m_on_bad(ep, "disconnected: subscribed again"); });
        }
        if (reopened) {
            make_items();
            continue;
        }
        for (size_t i = 1; i <= socks.size(); ++i) {
            if (!(items[i].revents & ZMQ_POLLIN)) continue;
            auto& sock = socks[i - 1];
            // Drain what is queued on this socket without blocking.
            for (;;) {
                ZmqArrival arrival;
                std::vector<zmq::message_t> parts;
                zmq::recv_result_t r;
                try {
                    r = zmq::recv_multipart(sock, std::back_inserter(parts), zmq::recv_flags::dontwait);
                    arrival.at = std::chrono::steady_clock::now();
                } catch (const zmq::error_t& e) {
                    log::Zmq()->warn("recv: {}", e.what());
                    break;
                }
                if (!r) break;
                m_received.fetch_add(1, std::memory_order_relaxed);
                const std::string& ep = m_subs[i - 1].endpoint;
                size_t bytes = 0;
                for (const auto& p : parts) bytes += p.size();
                if (m_pending.load() >= m_limits.max_pending || m_pending_bytes.load() + bytes > m_limits.max_pending_bytes) {
                    m_dropped.fetch_add(1, std::memory_order_relaxed);
                    if (!overflowing) {
                        overflowing = true;
                        boost::asio::post(m_ex, [this, ep] { m_on_bad(ep, "receive queue full: dropping messages until the chain thread catches up"); });
                    }
                    continue;
                }
                overflowing = false;
                std::vector<ByteSpan> frames;
                frames.reserve(parts.size());
                for (auto& p : parts) frames.emplace_back(static_cast<const uint8_t*>(p.data()), p.size());
                auto msg = chain::ParseZmqMessage(frames); // copies the body into owned storage
                if (!msg) {
                    boost::asio::post(m_ex, [this, ep, why = std::string(chain::ToString(msg.error()))] { m_on_bad(ep, why); });
                    continue;
                }
                m_pending.fetch_add(1);
                m_pending_bytes.fetch_add(bytes);
                arrival.from_node = from_node(i - 1);
                boost::asio::post(m_ex, [this, ep, bytes, arrival, m = std::move(*msg)]() mutable {
                    m_pending.fetch_sub(1);
                    m_pending_bytes.fetch_sub(bytes);
                    m_on_msg(ep, std::move(m), arrival);
                });
            }
        }
    }
}

} // namespace vw::daemon
