#include "webhook_receiver.h"

#include <boost/asio/as_tuple.hpp>
#include <boost/asio/co_spawn.hpp>
#include <boost/asio/detached.hpp>
#include <boost/asio/io_context.hpp>
#include <boost/asio/ip/tcp.hpp>
#include <boost/asio/ssl.hpp>
#include <boost/asio/use_awaitable.hpp>
#include <boost/beast/core.hpp>
#include <boost/beast/http.hpp>
#include <boost/beast/ssl.hpp>

#include <openssl/crypto.h>
#include <openssl/evp.h>
#include <openssl/hmac.h>

#include <cctype>
#include <cstdio>
#include <cstdlib>
#include <ctime>
#include <fstream>
#include <functional>
#include <stdexcept>

namespace vw::test {

namespace net = boost::asio;
namespace beast = boost::beast;
namespace http = beast::http;
using net::ip::tcp;

std::optional<std::string> CheckSignature(const std::string& secret, const std::string& header, const std::string& body, int64_t now)
{
    // t=<unix>,v1=<hex>
    long long t = -1;
    std::string v1;
    size_t start = 0;
    while (start < header.size()) {
        size_t comma = header.find(',', start);
        if (comma == std::string::npos) comma = header.size();
        const std::string item = header.substr(start, comma - start);
        start = comma + 1;
        if (item.rfind("t=", 0) == 0) t = std::atoll(item.c_str() + 2);
        if (item.rfind("v1=", 0) == 0) v1 = item.substr(3);
    }
    if (t < 0 || v1.size() != 64) return "malformed Vaultwatch-Signature: " + header;
    if (t > now + 300 || t < now - 300) return "stale timestamp " + std::to_string(t);
    const std::string msg = std::to_string(t) + "." + body;
    unsigned char mac[EVP_MAX_MD_SIZE];
    unsigned int len = 0;
    HMAC(EVP_sha256(), secret.data(), static_cast<int>(secret.size()), reinterpret_cast<const unsigned char*>(msg.data()), msg.size(), mac, &len);
    std::string hex;
    char buf[3];
    for (unsigned i = 0; i < len; ++i) {
        std::snprintf(buf, sizeof buf, "%02x", mac[i]);
        hex += buf;
    }
    if (CRYPTO_memcmp(hex.data(), v1.data(), hex.size()) != 0) return "signature mismatch";
    return std::nullopt;
}

struct WebhookReceiver::Impl {
    net::io_context io{1};
    tcp::acceptor acceptor{io};
    std::unique_ptr<net::ssl::context> tls;
    WebhookReceiver* owner{nullptr};

    void Record(const http::request<http::string_body>& req, unsigned status)
    {
        ReceivedRequest r;
        r.status = status;
        r.method = std::string(req.method_string());
        r.target = std::string(req.target());
        for (const auto& f : req) {
            std::string name(f.name_string());
            for (auto& ch : name) ch = static_cast<char>(std::tolower(static_cast<unsigned char>(ch)));
            r.headers[name] = std::string(f.value());
        }
        r.body = req.body();
        auto err = CheckSignature(owner->m_secret, r.Header("vaultwatch-signature"), r.body, static_cast<int64_t>(std::time(nullptr)));
        r.signature_ok = !err;
        r.signature_error = err.value_or("");
        std::lock_guard lk(owner->m_mu);
        owner->m_requests.push_back(std::move(r));
    }

    template <typename Stream>
    net::awaitable<void> Serve(Stream& s)
    {
        beast::flat_buffer buf;
        http::request<http::string_body> req;
        auto [ec, n] = co_await http::async_read(s, buf, req, net::as_tuple(net::use_awaitable));
        (void)n;
        if (ec) co_return;
        const unsigned every = owner->m_fail_every.load();
        unsigned status = every > 0 && ++owner->m_seen % every == 0 ? 500u : owner->m_status.load();
        {
            std::lock_guard lock(owner->m_refuse_mu);
            if (!owner->m_refuse_type.empty() && req["Vaultwatch-Event"] == owner->m_refuse_type) status = 500u;
        }
        Record(req, status);
        http::response<http::string_body> res{http::int_to_status(status), req.version()};
        res.set(http::field::content_type, "text/plain");
        res.body() = "ok\n";
        res.keep_alive(false);
        res.prepare_payload();
        auto [wec, wn] = co_await http::async_write(s, res, net::as_tuple(net::use_awaitable));
        (void)wec;
        (void)wn;
    }

    net::awaitable<void> Session(tcp::socket sock)
    {
        if (!tls) {
            beast::tcp_stream s{std::move(sock)};
            co_await Serve(s);
            boost::system::error_code ignored;
            s.socket().shutdown(tcp::socket::shutdown_both, ignored);
            co_return;
        }
        beast::ssl_stream<beast::tcp_stream> s{std::move(sock), *tls};
        beast::get_lowest_layer(s).expires_after(std::chrono::seconds{10});
        auto [hec] = co_await s.async_handshake(net::ssl::stream_base::server, net::as_tuple(net::use_awaitable));
        if (hec) {
            ++owner->m_handshake_failures;
            co_return;
        }
        co_await Serve(s);
    }

    net::awaitable<void> Accept()
    {
        for (;;) {
            auto [ec, sock] = co_await acceptor.async_accept(net::as_tuple(net::use_awaitable));
            if (ec) co_return;
            net::co_spawn(io, Session(std::move(sock)), net::detached);
        }
    }
};

WebhookReceiver::WebhookReceiver(std::string secret, uint16_t port, std::optional<TlsFiles> tls)
    : m_secret(std::move(secret)), m_port(port), m_tls(std::move(tls))
{
}

WebhookReceiver::~WebhookReceiver() { Stop(); }

void WebhookReceiver::Start()
{
    if (m_impl) return;
    auto impl = std::make_unique<Impl>();
    impl->owner = this;
    if (m_tls) {
        impl->tls = std::make_unique<net::ssl::context>(net::ssl::context::tls_server);
        impl->tls->use_certificate_chain_file(m_tls->cert_chain.string());
        impl->tls->use_private_key_file(m_tls->key.string(), net::ssl::context::pem);
    }
    const tcp::endpoint ep{net::ip::make_address("127.0.0.1"), m_port};
    impl->acceptor.open(ep.protocol());
    impl->acceptor.set_option(tcp::acceptor::reuse_address(true));
    impl->acceptor.bind(ep);
    impl->acceptor.listen();
    m_port = impl->acceptor.local_endpoint().port();
    net::co_spawn(impl->io, impl->Accept(), net::detached);
    m_impl = std::move(impl);
    m_thread = std::thread([io = &m_impl->io] { io->run(); });
}

void WebhookReceiver::Stop()
{
    if (!m_impl) return;
    m_impl->io.stop();
    if (m_thread.joinable()) m_thread.join();
    m_impl.reset(); // destroys the pending sessions: every connection closes
}

std::vector<ReceivedRequest> WebhookReceiver::Requests() const
{
    std::lock_guard lk(m_mu);
    return m_requests;
}

size_t WebhookReceiver::Count() const
{
    std::lock_guard lk(m_mu);
    return m_requests.size();
}

namespace {
void Run(const std::string& cmd)
{
    const std::string full = cmd + " >/dev/null 2>&1";
    if (std::system(full.c_str()) != 0) throw std::runtime_error("failed: " + cmd);
}
} // namespace

TestCa MakeTestCa(const std::filesystem::path& dir, const std::string& name)
{
    TestCa ca;
    ca.dir = dir / name;
    std::filesystem::create_directories(ca.dir);
    ca.cert = ca.dir / "ca.crt";
    ca.key = ca.dir / "ca.key";
    Run("openssl req -x509 -newkey ec -pkeyopt ec_paramgen_curve:prime256v1 -nodes -days 2 -subj '/CN=vaultwatch test CA " + name +
        "' -addext basicConstraints=critical,CA:TRUE -addext keyUsage=critical,keyCertSign,cRLSign -keyout " + ca.key.string() +
        " -out " + ca.cert.string());
    return ca;
}

TlsFiles TestCa::Issue(const std::string& name, const std::string& subject_alt_names) const
{
    TlsFiles f;
    f.cert_chain = dir / (name + ".crt");
    f.key = dir / (name + ".key");
    const auto csr = dir / (name + ".csr"), ext = dir / (name + ".ext");
    {
        std::ofstream e(ext);
        e << "basicConstraints=CA:FALSE\nkeyUsage=critical,digitalSignature\nextendedKeyUsage=serverAuth\nsubjectAltName=" << subject_alt_names
          << "\n";
    }
    Run("openssl req -newkey ec -pkeyopt ec_paramgen_curve:prime256v1 -nodes -subj '/CN=" + name + "' -keyout " + f.key.string() +
        " -out " + csr.string());
    Run("openssl x509 -req -days 2 -in " + csr.string() + " -CA " + cert.string() + " -CAkey " + key.string() +
        " -CAcreateserial -extfile " + ext.string() + " -out " + f.cert_chain.string());
    return f;
}

} // namespace vw::test
