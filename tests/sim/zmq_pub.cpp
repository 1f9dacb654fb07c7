#include "zmq_pub.h"

#include <algorithm>
#include <array>
#include <cstring>
#include <stdexcept>

namespace vw::sim {

namespace {
std::array<uint8_t, 32> Display(const Uint256& u)
{
    std::array<uint8_t, 32> out;
    for (size_t i = 0; i < 32; ++i) out[31 - i] = u.bytes[i];  // data[31-i] = hash.begin()[i]
    return out;
}

std::string BindAddress(const std::string& configured)
{
    // tcp://host:0 -> tcp://host:* so libzmq picks a free port.
    if (configured.size() > 2 && configured.compare(configured.size() - 2, 2, ":0") == 0) {
        return configured.substr(0, configured.size() - 1) + "*";
    }
    return configured;
}
} // namespace

ZmqPublisher::ZmqPublisher(zmq::context_t& ctx, std::vector<ZmqPubConfig> config, int hwm) : m_ctx(ctx), m_hwm(hwm)
{
    // Core builds notifiers by iterating its factory map (sorted by type name), then the
    // -zmqpub<topic> arguments in order.
    std::stable_sort(config.begin(), config.end(), [](const auto& a, const auto& b) { return a.topic < b.topic; });
    for (const auto& c : config) {
        // Same address, same socket ("Reusing socket"); port 0 always asks for a new port.
        const bool ephemeral = c.address.size() > 2 && c.address.compare(c.address.size() - 2, 2, ":0") == 0;
        auto it = ephemeral ? m_addresses.end() : std::find(m_addresses.begin(), m_addresses.end(), c.address);
        size_t idx = static_cast<size_t>(it - m_addresses.begin());
        if (it == m_addresses.end()) {
            m_addresses.push_back(c.address);
            m_bound.push_back({});
        }
        m_notifiers.push_back(Notifier{c.topic, c.address, idx, 0});
    }
}

ZmqPublisher::~ZmqPublisher() { Close(); }

void ZmqPublisher::Open()
{
    Close();
    for (size_t i = 0; i < m_addresses.size(); ++i) {
        Socket s;
        s.configured = m_addresses[i];
        s.sock = std::make_unique<zmq::socket_t>(m_ctx, zmq::socket_type::pub);
        s.sock->set(zmq::sockopt::sndhwm, m_hwm);
        s.sock->set(zmq::sockopt::tcp_keepalive, 1);
        s.sock->set(zmq::sockopt::linger, 100);
        const std::string target = m_bound[i].empty() ? BindAddress(m_addresses[i]) : m_bound[i];
        s.sock->bind(target);
        s.bound = s.sock->get(zmq::sockopt::last_endpoint);
        m_bound[i] = s.bound;
        m_sockets.push_back(std::move(s));
    }
    for (auto& n : m_notifiers) n.counter = 0;
}

void ZmqPublisher::Close()
{
    for (auto& s : m_sockets) {
        if (s.sock) s.sock->close();
    }
    m_sockets.clear();
}

std::vector<ZmqPublisher::Info> ZmqPublisher::Notifiers() const
{
    std::vector<Info> out;
    for (const auto& n : m_notifiers) {
        const std::string& addr = m_bound[n.socket].empty() ? n.configured : m_bound[n.socket];
        out.push_back(Info{"pub" + n.topic, addr, m_hwm});
    }
    return out;
}

std::string ZmqPublisher::AddressOf(const std::string& topic) const
{
    for (const auto& n : m_notifiers) {
        if (n.topic == topic) return m_bound[n.socket].empty() ? n.configured : m_bound[n.socket];
    }
    return {};
}

void ZmqPublisher::Send(Notifier& n, const void* body, size_t size)
{
    const uint32_t counter = n.counter++;
    if (m_sockets.empty()) return;  // "process not running": nothing to send on
    if (m_silence) return;
    if (m_drop > 0) {
        --m_drop;
        return;
    }
    uint8_t le[4] = {static_cast<uint8_t>(counter), static_cast<uint8_t>(counter >> 8), static_cast<uint8_t>(counter >> 16), static_cast<uint8_t>(counter >> 24)};
    auto& sock = *m_sockets[n.socket].sock;
    sock.send(zmq::const_buffer(n.topic.data(), n.topic.size()), zmq::send_flags::sndmore | zmq::send_flags::dontwait);
    sock.send(zmq::const_buffer(body, size), zmq::send_flags::sndmore | zmq::send_flags::dontwait);
    sock.send(zmq::const_buffer(le, 4), zmq::send_flags::dontwait);
}

void ZmqPublisher::SendRaw(const std::string& topic, const std::vector<Bytes>& frames)
{
    if (m_sockets.empty() || m_silence || frames.empty()) return;
    std::vector<size_t> targets;
    for (const auto& n : m_notifiers) {
        if (n.topic == topic && std::find(targets.begin(), targets.end(), n.socket) == targets.end()) targets.push_back(n.socket);
    }
    if (targets.empty()) {
        for (size_t i = 0; i < m_sockets.size(); ++i) targets.push_back(i);
    }
    for (size_t t : targets) {
        auto& sock = *m_sockets[t].sock;
        for (size_t i = 0; i < frames.size(); ++i) {
            const auto more = i + 1 < frames.size() ? zmq::send_flags::sndmore : zmq::send_flags::none;
            sock.send(zmq::const_buffer(frames[i].data(), frames[i].size()), more | zmq::send_flags::dontwait);
        }
    }
}

uint32_t ZmqPublisher::NextCounter(const std::string& topic) const
{
    for (const auto& n : m_notifiers) {
        if (n.topic == topic) return n.counter;
    }
    return 0;
}

void ZmqPublisher::SendTopic(const char* topic, const void* body, size_t size)
{
    for (auto& n : m_notifiers) {
        if (n.topic == topic) Send(n, body, size);
    }
}

void ZmqPublisher::Transaction(const vw::Transaction& tx)
{
    // Notifier order decides who goes first: hashtx notifiers sort before rawtx.
    const Bytes raw = SerializeTransaction(tx, /*with_witness=*/true);
    const auto hash = Display(tx.GetTxid().ToUint256());
    for (auto& n : m_notifiers) {
        if (n.topic == "hashtx") Send(n, hash.data(), hash.size());
        else if (n.topic == "rawtx") Send(n, raw.data(), raw.size());
    }
}

void ZmqPublisher::BlockConnected(const BlockHash& hash)
{
    uint8_t body[33];
    const auto h = Display(hash.ToUint256());
    std::memcpy(body, h.data(), 32);
    body[32] = 'C';
    SendTopic("sequence", body, sizeof(body));
}

void ZmqPublisher::BlockDisconnected(const BlockHash& hash)
{
    uint8_t body[33];
    const auto h = Display(hash.ToUint256());
    std::memcpy(body, h.data(), 32);
    body[32] = 'D';
    SendTopic("sequence", body, sizeof(body));
}

void ZmqPublisher::TipUpdated(const BlockHash& hash, const Bytes& raw_block)
{
    const auto h = Display(hash.ToUint256());
    for (auto& n : m_notifiers) {
        if (n.topic == "hashblock") Send(n, h.data(), h.size());
        else if (n.topic == "rawblock") Send(n, raw_block.data(), raw_block.size());
    }
}

static void MempoolBody(uint8_t (&body)[41], const Txid& txid, char label, uint64_t seq)
{
    const auto h = Display(txid.ToUint256());
    std::memcpy(body, h.data(), 32);
    body[32] = static_cast<uint8_t>(label);
    for (int i = 0; i < 8; ++i) body[33 + i] = static_cast<uint8_t>(seq >> (8 * i));
}

void ZmqPublisher::MempoolAdded(const Txid& txid, uint64_t mempool_seq)
{
    uint8_t body[41];
    MempoolBody(body, txid, 'A', mempool_seq);
    SendTopic("sequence", body, sizeof(body));
}

void ZmqPublisher::MempoolRemoved(const Txid& txid, uint64_t mempool_seq)
{
    uint8_t body[41];
    MempoolBody(body, txid, 'R', mempool_seq);
    SendTopic("sequence", body, sizeof(body));
}

} // namespace vw::sim
