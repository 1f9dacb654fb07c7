#include "zmq_subscriber.h"

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

ZmqSubscriber::ZmqSubscriber(boost::asio::any_io_executor ex, std::vector<ZmqSubscription> subs, OnMessage on_msg, OnBad on_bad)
    : m_ex(std::move(ex)), m_subs(std::move(subs)), m_on_msg(std::move(on_msg)), m_on_bad(std::move(on_bad)),
      m_impl(std::make_unique<Impl>())
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
    m_impl->interrupt_tx.send(zmq::str_buffer("stop"), zmq::send_flags::dontwait);
    m_thread.join();
}

void ZmqSubscriber::ThreadMain()
{
    pthread_setname_np(pthread_self(), "vw-zmq");
    zmq::socket_t interrupt_rx{m_impl->ctx, zmq::socket_type::pair};
    interrupt_rx.connect(m_impl->interrupt_addr);
    std::vector<zmq::socket_t> socks;
    for (const auto& s : m_subs) {
        zmq::socket_t sock{m_impl->ctx, zmq::socket_type::sub};
        // Never drop on our side; bitcoind's PUB side may still drop at its HWM, which the
        // sequence numbers reveal.
        sock.set(zmq::sockopt::rcvhwm, 0);
        sock.set(zmq::sockopt::tcp_keepalive, 1);
        sock.set(zmq::sockopt::tcp_keepalive_idle, 60);
        sock.set(zmq::sockopt::reconnect_ivl, 100);
        sock.set(zmq::sockopt::reconnect_ivl_max, 5000);
        for (const auto& t : s.topics) sock.set(zmq::sockopt::subscribe, t);
        sock.connect(s.endpoint);
        log::Zmq()->info("subscribed to {} on {}", fmt::join(s.topics, ","), s.endpoint);
        socks.push_back(std::move(sock));
    }
    std::vector<zmq::pollitem_t> items;
    items.push_back({interrupt_rx.handle(), 0, ZMQ_POLLIN, 0});
    for (auto& s : socks) items.push_back({s.handle(), 0, ZMQ_POLLIN, 0});
    for (;;) {
        try {
            zmq::poll(items.data(), items.size(), std::chrono::milliseconds{-1});
        } catch (const zmq::error_t& e) {
            if (e.num() == EINTR) continue;
            log::Zmq()->error("poll: {}", e.what());
            return;
        }
        if (items[0].revents & ZMQ_POLLIN) return;
        for (size_t i = 1; i < items.size(); ++i) {
            if (!(items[i].revents & ZMQ_POLLIN)) continue;
            auto& sock = socks[i - 1];
            // Drain what is queued on this socket without blocking.
            for (;;) {
                std::vector<zmq::message_t> parts;
                zmq::recv_result_t r;
                try {
                    r = zmq::recv_multipart(sock, std::back_inserter(parts), zmq::recv_flags::dontwait);
                } catch (const zmq::error_t& e) {
                    log::Zmq()->warn("recv: {}", e.what());
                    break;
                }
                if (!r) break;
                m_received.fetch_add(1, std::memory_order_relaxed);
                std::vector<ByteSpan> frames;
                frames.reserve(parts.size());
                for (auto& p : parts) frames.emplace_back(static_cast<const uint8_t*>(p.data()), p.size());
                auto msg = chain::ParseZmqMessage(frames); // copies the body into owned storage
                const std::string& ep = m_subs[i - 1].endpoint;
                if (!msg) {
                    boost::asio::post(m_ex, [this, ep, why = std::string(chain::ToString(msg.error()))] { m_on_bad(ep, why); });
                    continue;
                }
                boost::asio::post(m_ex, [this, ep, m = std::move(*msg)]() mutable { m_on_msg(ep, std::move(m)); });
            }
        }
    }
}

} // namespace vw::daemon
