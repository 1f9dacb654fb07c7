#pragma once
// A webhook endpoint for tests: Boost.Beast HTTP or HTTPS server on 127.0.0.1, its own thread.
// It records every request, checks the Vaultwatch-Signature with its own HMAC (OpenSSL, not the
// daemon's code), answers a configurable status, and can be stopped and started again on the
// same port (an endpoint that is down). Test certificates are made at run time (openssl CLI);
// no key is ever committed.

#include <atomic>
#include <cstdint>
#include <filesystem>
#include <map>
#include <memory>
#include <mutex>
#include <optional>
#include <string>
#include <thread>
#include <vector>

namespace boost::asio {
class io_context;
}

namespace vw::test {

struct ReceivedRequest {
    std::string method;
    std::string target;
    std::map<std::string, std::string> headers; //!< names lowercased
    std::string body;
    bool signature_ok{false};                   //!< v1 matched HMAC-SHA256(secret, "<t>.<body>") and t is recent
    std::string signature_error;
    unsigned status{200};                       //!< what the receiver answered
    std::string Header(const std::string& lower_name) const
    {
        auto it = headers.find(lower_name);
        return it == headers.end() ? std::string{} : it->second;
    }
};

struct TlsFiles {
    std::filesystem::path cert_chain; //!< PEM, server certificate first
    std::filesystem::path key;        //!< PEM private key
};

class WebhookReceiver
{
public:
    //! port 0: pick a free one at the first Start and keep it.
    WebhookReceiver(std::string secret, uint16_t port = 0, std::optional<TlsFiles> tls = std::nullopt);
    ~WebhookReceiver();
    WebhookReceiver(const WebhookReceiver&) = delete;
    WebhookReceiver& operator=(const WebhookReceiver&) = delete;

    void Start();
    //! Closes the listener and every connection (the endpoint is down until Start).
    void Stop();
    void SetStatus(unsigned status) { m_status = status; }
    //! Answers 500 to every nth request (n = 2: half of them); 0 = off. The failed ones are
    //! recorded too, with status 500.
    void SetFailEvery(unsigned n) { m_fail_every = n; }
    //! Answers 500 to every delivery of this event type (Vaultwatch-Event); "" = off.
    void SetRefuseType(std::string type)
    {
        std::lock_guard lock(m_refuse_mu);
        m_refuse_type = std::move(type);
    }

    uint16_t port() const { return m_port; }
    std::vector<ReceivedRequest> Requests() const;
    size_t Count() const;
    //! Connections whose TLS handshake failed (the client refused our certificate, or the reverse).
    size_t HandshakeFailures() const { return m_handshake_failures; }

private:
    struct Impl;
    std::string m_secret;
    uint16_t m_port;
    std::optional<TlsFiles> m_tls;
    std::atomic<unsigned> m_status{200};
    std::atomic<unsigned> m_fail_every{0};
    mutable std::mutex m_refuse_mu;
    std::string m_refuse_type;
    std::atomic<uint64_t> m_seen{0};
    std::atomic<size_t> m_handshake_failures{0};
    mutable std::mutex m_mu;
    std::vector<ReceivedRequest> m_requests;
    std::unique_ptr<Impl> m_impl;
    std::thread m_thread;
};

//! A test certificate authority made with the openssl CLI in dir.
struct TestCa {
    std::filesystem::path dir;
    std::filesystem::path cert;
    std::filesystem::path key;
    //! Issues a server certificate for subject_alt_names ("DNS:localhost,IP:127.0.0.1").
    TlsFiles Issue(const std::string& name, const std::string& subject_alt_names) const;
};
//! Creates a CA in dir/name. Throws std::runtime_error when the openssl CLI fails.
TestCa MakeTestCa(const std::filesystem::path& dir, const std::string& name);

//! Independent signature check (OpenSSL HMAC directly): returns an error or nothing.
std::optional<std::string> CheckSignature(const std::string& secret, const std::string& header, const std::string& body, int64_t now);

} // namespace vw::test
