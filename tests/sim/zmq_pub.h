#pragma once
// bitcoind's ZMQ notifiers: one PUB socket per address (topics on the same address share it),
// one notifier per (topic, address) with its own uint32 counter, 3-frame messages
// [topic, body, counter LE], hashes in display order. Used from the simulator's io thread only.

#include "node.h"

#include <zmq.hpp>

#include <memory>
#include <string>
#include <vector>

namespace vw::sim {

struct ZmqPubConfig {
    std::string topic;    //!< rawtx, hashtx, rawblock, hashblock, sequence
    std::string address;  //!< tcp://127.0.0.1:PORT; port 0 picks a free port
};

class ZmqPublisher final : public NotificationSink
{
public:
    ZmqPublisher(zmq::context_t& ctx, std::vector<ZmqPubConfig> config, int hwm);
    ~ZmqPublisher() override;

    //! Binds all sockets (rebinding the same actual ports after a restart). Counters start at 0.
    void Open();
    void Close();
    bool IsOpen() const { return !m_sockets.empty(); }

    //! Notifiers in getzmqnotifications order (type name, then configuration order), with the
    //! actual bound address.
    struct Info {
        std::string type;  //!< "pub" + topic
        std::string address;
        int hwm;
    };
    std::vector<Info> Notifiers() const;
    //! Actual address of the first notifier with this topic ("" if none).
    std::string AddressOf(const std::string& topic) const;

    // Fault injection: messages are counted (the counter advances, as when libzmq drops at the
    // HWM) but not sent.
    //! Drops the next n messages (replaces any count still pending; 0 cancels).
    void DropNext(uint64_t n) { m_drop = n; }
    void SetSilence(bool on) { m_silence = on; }
    //! Sends `frames` as one message on the socket that carries `topic` (on every socket if
    //! `topic` is empty or has no notifier). Counters are not touched; silence and drops apply.
    void SendRaw(const std::string& topic, const std::vector<Bytes>& frames);
    //! The counter the next message of the first notifier of `topic` will carry (0 if none).
    uint32_t NextCounter(const std::string& topic) const;
    //! Restart without closing the sockets: counters back to 0.
    void ResetCounters()
    {
        for (auto& n : m_notifiers) n.counter = 0;
    }

    // NotificationSink
    void Transaction(const vw::Transaction& tx) override;
    void BlockConnected(const BlockHash& hash) override;
    void BlockDisconnected(const BlockHash& hash) override;
    void TipUpdated(const BlockHash& hash, const Bytes& raw_block) override;
    void MempoolAdded(const Txid& txid, uint64_t mempool_seq) override;
    void MempoolRemoved(const Txid& txid, uint64_t mempool_seq) override;

private:
    struct Notifier {
        std::string topic;
        std::string configured;  //!< address as configured
        size_t socket{0};
        uint32_t counter{0};
    };
    struct Socket {
        std::string configured;
        std::string bound;  //!< actual endpoint
        std::unique_ptr<zmq::socket_t> sock;
    };
    void Send(Notifier& n, const void* body, size_t size);
    void SendTopic(const char* topic, const void* body, size_t size);

    zmq::context_t& m_ctx;
    int m_hwm;
    std::vector<Notifier> m_notifiers;
    std::vector<std::string> m_addresses;  //!< distinct configured addresses
    std::vector<std::string> m_bound;      //!< actual endpoint per address (kept across restarts)
    std::vector<Socket> m_sockets;
    uint64_t m_drop{0};
    bool m_silence{false};
};

} // namespace vw::sim
