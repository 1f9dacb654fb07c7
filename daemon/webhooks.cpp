#include "webhooks.h"

#include "crypto/sha256.h"
#include "log.h"
#include "rpc/table.h"
#include "util/hex.h"

#include <boost/asio/as_tuple.hpp>
#include <boost/asio/co_spawn.hpp>
#include <boost/asio/ip/tcp.hpp>
#include <boost/asio/ssl.hpp>
#include <boost/asio/use_awaitable.hpp>
#include <boost/beast/core.hpp>
#include <boost/beast/http.hpp>
#include <boost/beast/ssl.hpp>
#include <boost/json.hpp>

#include <openssl/rand.h>
#include <openssl/ssl.h>
#include <openssl/x509v3.h>

#include <algorithm>
#include <limits>
#include <set>
#include <tuple>

namespace vw::daemon {

namespace net = boost::asio;
namespace beast = boost::beast;
namespace http = beast::http;
namespace json = boost::json;
using net::ip::tcp;
using std::chrono::milliseconds;

constexpr size_t kMaxWebhooks = 100;
constexpr size_t kQueueBatch = 500;   //!< events examined per queueing transaction
constexpr size_t kLoadBatch = 64;     //!< pending deliveries read at a time
constexpr milliseconds kStoreRetry{1000};
constexpr milliseconds kIdle{3'600'000};

struct WebhookDispatcher::Hook {
    explicit Hook(const net::any_io_executor& ex) : wake(ex) {}
    store::WebhookRow row;
    notify::WebhookUrl url;
    std::vector<std::string> filter;
    net::steady_timer wake;              //!< the loop sleeps on it; cancelled to wake it
    bool kicked{false};                  //!< work may have arrived while the loop was busy
    bool running{false};
    bool removed{false};
    std::deque<std::string> tests;       //!< delivery ids of queued webhook.test deliveries
    std::optional<unsigned> last_status;
    int64_t last_attempt_at{0};          //!< unix ms
    std::function<void()> abort;         //!< cancels the attempt in flight (stop, remove)
};

namespace {

std::string Msg(const boost::system::error_code& ec)
{
    if (ec == beast::error::timeout) return "timed out";
    return ec.message();
}

struct AbortGuard {
    std::function<void()>& slot;
    ~AbortGuard() { slot = nullptr; }
};

std::string RandomId()
{
    std::array<uint8_t, 8> b{};
    if (RAND_bytes(b.data(), static_cast<int>(b.size())) != 1) {
        std::random_device rd;
        for (auto& x : b) x = static_cast<uint8_t>(rd());
    }
    return "wh-" + HexStr(ByteSpan{b.data(), b.size()});
}

std::string DeliveryId(const std::string& hook_id, int64_t seq) { return hook_id + ":" + std::to_string(seq); }

//! The request/response exchange on a connected (and, for TLS, verified) stream.
template <typename Stream>
net::awaitable<WebhookAttempt> Exchange(Stream& s, http::request<http::string_body>& req)
{
    WebhookAttempt out;
    auto [wec, written] = co_await http::async_write(s, req, net::as_tuple(net::use_awaitable));
    (void)written;
    if (wec) {
        out.error = "send: " + Msg(wec);
        co_return out;
    }
    // Only the status matters; the body (if any) is not read.
    beast::flat_buffer buf;
    http::response_parser<http::string_body> parser;
    auto [rec, nread] = co_await http::async_read_header(s, buf, parser, net::as_tuple(net::use_awaitable));
    (void)nread;
    if (rec) {
        out.error = "response: " + Msg(rec);
        co_return out;
    }
    const unsigned status = parser.get().result_int();
    out.status = status;
    if (status < 200 || status > 299) out.error = "HTTP " + std::to_string(status);
    co_return out;
}

} // namespace

WebhookDispatcher::WebhookDispatcher(net::any_io_executor ex, store::Store& store, WebhookOptions opts)
    : m_ex(ex), m_store(store), m_opts(std::move(opts)), m_poll_wake(ex), m_rng(std::random_device{}())
{
}

WebhookDispatcher::~WebhookDispatcher() = default;

int64_t WebhookDispatcher::NowMs() const
{
    if (m_opts.now_ms) return m_opts.now_ms();
    return std::chrono::duration_cast<milliseconds>(std::chrono::system_clock::now().time_since_epoch()).count();
}

std::string WebhookDispatcher::ConfigWebhookId(const std::string& url)
{
    const std::string tagged = "vaultwatch config webhook\n" + url;
    const Uint256 h = crypto::Sha256Once(ByteSpan{reinterpret_cast<const uint8_t*>(tagged.data()), tagged.size()});
    return "wh-" + HexStr(ByteSpan{h.bytes.data(), 8});
}

bool WebhookDispatcher::Persist(store::WebhookChanges c)
{
    // Delivery bookkeeping: the store's thread syncs it. A power cut before that sync loses a
    // suffix of the commits (the WAL keeps them in order), and what it loses is delivered again.
    c.sync_in_background = true;
    if (auto r = m_store.ApplyWebhooks(c); !r) {
        log::Store()->error("webhooks: cannot write delivery state: {}", r.error().message);
        return false;
    }
    return true;
}

Expected<void, std::string> WebhookDispatcher::Load(const std::vector<ConfiguredWebhook>& configured)
{
    try {
        m_ssl = std::make_unique<net::ssl::context>(net::ssl::context::tls_client);
        SSL_CTX_set_min_proto_version(m_ssl->native_handle(), TLS1_2_VERSION);
        m_ssl->set_verify_mode(net::ssl::verify_peer);
        if (m_opts.ca_file.empty()) m_ssl->set_default_verify_paths();
        else m_ssl->load_verify_file(m_opts.ca_file);
    } catch (const boost::system::system_error& e) {
        return Unexpected{"webhookcafile=" + m_opts.ca_file + ": " + e.what()};
    }
    auto rows = m_store.LoadWebhooks();
    if (!rows) return Unexpected{rows.error().message};
    auto last = m_store.LastEventSeq();
    if (!last) return Unexpected{last.error().message};

    std::map<std::string, store::WebhookRow> by_id;
    for (auto& r : *rows) by_id.emplace(r.id, std::move(r));
    store::WebhookChanges changes;
    std::set<std::string> config_ids;
    for (const auto& c : configured) {
        auto u = notify::ParseWebhookUrl(c.url);
        if (!u) return Unexpected{"webhook=" + c.url + ": " + u.error()};
        auto f = notify::ParseEventFilter(c.events);
        if (!f) return Unexpected{"webhookevents: " + f.error()};
        const std::string id = ConfigWebhookId(c.url);
        if (!config_ids.insert(id).second) continue; // the same URL twice
        auto it = by_id.find(id);
        store::WebhookRow row;
        if (it != by_id.end()) {
            row = it->second;
            if (!row.enabled) {
                // Disabled by an older version (a 410 Gone): listed in the config, so wanted. Every
                // event since is still owed to it: no alert is skipped.
                log::Main()->info("webhook {} ({}): enabled again (listed in the config)", id, u->Origin());
                row.enabled = true;
                row.last_error.clear();
            }
        } else {
            row.id = id;
            row.cursor = *last;
            row.created_at = NowMs() / 1000;
        }
        row.url = c.url;
        row.secret = c.secret;
        row.events = notify::JoinEventFilter(*f);
        row.source = "config";
        by_id[id] = row;
        changes.webhooks.push_back(row);
    }
    for (auto it = by_id.begin(); it != by_id.end();) {
        if (it->second.source == "config" && !config_ids.contains(it->first)) {
            log::Main()->info("webhook {}: no longer in the config, removed with its pending deliveries", it->first);
            changes.removed.push_back(it->first);
            it = by_id.erase(it);
        } else {
            ++it;
        }
    }
    if (auto r = m_store.ApplyWebhooks(changes); !r) return Unexpected{r.error().message};

    m_hooks.clear();
    for (auto& [id, row] : by_id) {
        auto u = notify::ParseWebhookUrl(row.url);
        auto f = notify::ParseEventFilter(row.events);
        if (!u || !f) return Unexpected{"corrupt database: webhook " + id + " has a bad url or event filter"};
        auto h = std::make_shared<Hook>(m_ex);
        h->row = row;
        h->url = *u;
        h->filter = *f;
        m_hooks.emplace(id, std::move(h));
    }
    for (const auto& [id, h] : m_hooks) {
        log::Main()->info("webhook {} ({}{}), events {}{}", id, h->url.Origin(), h->row.source == "config" ? ", config" : "", h->row.events,
                          h->row.enabled ? "" : ", disabled");
    }
    return {};
}

void WebhookDispatcher::Start()
{
    if (m_started) return;
    m_started = true;
    net::co_spawn(m_ex, PollLoop(), [](std::exception_ptr e) {
        if (!e) return;
        try {
            std::rethrow_exception(e);
        } catch (const std::exception& ex) {
            log::Main()->critical("webhooks: poller stopped: {}", ex.what());
        }
    });
    for (const auto& [_, h] : m_hooks) SpawnHook(h);
}

void WebhookDispatcher::Stop()
{
    m_stopping = true;
    m_poll_wake.cancel();
    for (const auto& [_, h] : m_hooks) {
        h->wake.cancel();
        if (h->abort) h->abort();
    }
}

void WebhookDispatcher::Kick()
{
    if (!m_stopping) m_poll_wake.cancel();
}

void WebhookDispatcher::SpawnHook(const std::shared_ptr<Hook>& hook)
{
    if (!m_started || m_stopping || hook->running || hook->removed || !hook->row.enabled) return;
    hook->running = true;
    net::co_spawn(m_ex, HookLoop(hook), [hook](std::exception_ptr e) {
        if (!e) return; // the loop cleared running itself (a new loop may have started since)
        hook->running = false;
        try {
            std::rethrow_exception(e);
        } catch (const std::exception& ex) {
            log::Main()->critical("webhook {}: delivery loop stopped: {}", hook->row.id, ex.what());
        }
    });
}

int64_t WebhookDispatcher::Pending() const
{
    int64_t n = 0;
    for (const auto& [id, _] : m_hooks) {
        if (auto c = m_store.CountDeliveries(id, store::DeliveryState::Pending)) n += *c;
    }
    return n;
}

net::awaitable<void> WebhookDispatcher::PollLoop()
{
    while (!m_stopping) {
        QueueNewEvents();
        m_poll_wake.expires_after(m_opts.poll_interval);
        auto [ec] = co_await m_poll_wake.async_wait(net::as_tuple(net::use_awaitable));
        (void)ec;
    }
}

bool WebhookDispatcher::QueueNewEvents()
{
    if (m_hooks.empty()) return true;
    auto last = m_store.LastEventSeq();
    if (!last) {
        log::Store()->error("webhooks: cannot read the event log: {}", last.error().message);
        return false;
    }
    // One transaction for every hook (one fsync per poll, however many hooks), at most
    // kQueueBatch events per hook; a longer backlog continues at the next poll.
    store::WebhookChanges c;
    std::vector<std::pair<Hook*, int64_t>> advanced; //!< hook, new cursor
    for (const auto& [id, hook] : m_hooks) {
        if (!hook->row.enabled || hook->removed || hook->row.cursor >= *last) continue;
        auto events = m_store.LoadEvents(hook->row.cursor, kQueueBatch);
        if (!events) {
            log::Store()->error("webhooks: cannot read the event log: {}", events.error().message);
            return false;
        }
        store::WebhookRow row = hook->row;
        row.cursor = events->empty() ? *last : events->back().seq;
        for (const auto& e : *events) {
            if (!notify::EventFilterMatches(hook->filter, e.type)) continue;
            store::DeliveryRow d;
            d.webhook_id = id;
            d.event_seq = e.seq;
            d.state = store::DeliveryState::Pending;
            d.created_at = e.created_at;
            c.deliveries.push_back(std::move(d));
        }
        c.webhooks.push_back(row);
        advanced.emplace_back(hook.get(), row.cursor);
    }
    if (c.empty()) return true;
    if (!Persist(c)) return false;
    for (auto [hook, cursor] : advanced) hook->row.cursor = cursor;
    for (const auto& d : c.deliveries) {
        auto& hook = m_hooks.at(d.webhook_id);
        hook->kicked = true;
        hook->wake.cancel();
    }
    return true;
}

net::awaitable<void> WebhookDispatcher::Sleep(Hook& hook, milliseconds d)
{
    hook.wake.expires_after(d);
    auto [ec] = co_await hook.wake.async_wait(net::as_tuple(net::use_awaitable));
    (void)ec;
}

void WebhookDispatcher::GiveUp(Hook& hook, store::DeliveryRow& d, const std::string& why)
{
    ++m_stats.given_up;
    d.state = store::DeliveryState::Failed;
    if (!why.empty()) d.last_error = why;
    ++hook.row.failed;
    hook.row.last_error = d.last_error;
    log::Main()->error("webhook {} ({}): gave delivery {} up after {} attempts: {}", hook.row.id, hook.url.Origin(),
                       DeliveryId(hook.row.id, d.event_seq), d.attempts, d.last_error);
    store::WebhookChanges c;
    c.webhooks.push_back(hook.row);
    c.deliveries.push_back(d);
    Persist(c);
}

void WebhookDispatcher::RecordFailure(Hook& hook, store::DeliveryRow& d, const WebhookAttempt& r, const std::string& type)
{
    ++m_stats.failed_attempts;
    ++d.attempts;
    d.last_status = r.status ? std::optional<int>{static_cast<int>(*r.status)} : std::nullopt;
    d.last_error = r.error;
    hook.row.last_error = r.error;
    store::WebhookChanges c;
    if (r.status == 410u) {
        // Anything on the path can answer 410 (a proxy, a misrouted load balancer): the hook is not
        // given up on, the delivery is retried like any other failure. An operator who retired
        // the endpoint removes the webhook.
        hook.row.last_error = "HTTP 410 Gone (retried; removewebhook if the endpoint is gone for good)";
        log::Main()->warn("webhook {} ({}): the endpoint answered 410 Gone; retrying (removewebhook if it is gone for good)", hook.row.id,
                          hook.url.Origin());
    }
    const int64_t now = NowMs();
    const milliseconds wait = notify::WebhookBackoff(d.attempts, m_opts.base_backoff, m_opts.max_backoff,
                                                  std::uniform_real_distribution<double>{0.0, 1.0}(m_rng));
    d.next_attempt_at = now + wait.count();
    if (d.created_at * 1000 + m_opts.retry_horizon.count() < d.next_attempt_at) {
        GiveUp(hook, d, "");
        return;
    }
    const auto level = d.attempts == 1 ? spdlog::level::warn : spdlog::level::debug;
    log::Main()->log(level, "webhook {} ({}): delivery {} ({}) failed, attempt {}: {}; next attempt in {} ms", hook.row.id,
                     hook.url.Origin(), DeliveryId(hook.row.id, d.event_seq), type, d.attempts, r.error, wait.count());
    c.webhooks.push_back(hook.row);
    c.deliveries.push_back(d);
    Persist(c);
}

net::awaitable<void> WebhookDispatcher::HookLoop(std::shared_ptr<Hook> hook)
{
    std::deque<store::DeliveryRow> batch;
    auto alive = [&] { return !m_stopping && !hook->removed && hook->row.enabled; };
    while (alive()) {
        if (!hook->tests.empty()) {
            const std::string did = hook->tests.front();
            hook->tests.pop_front();
            json::object data{{"webhook_id", hook->row.id}, {"message", "test delivery from vaultwatchd (testwebhook)"}};
            const std::string body = notify::WebhookPayload(did, "webhook.test", NowMs() / 1000, m_opts.chain, data);
            const std::string type = "webhook.test";
            const WebhookAttempt r = co_await Post(hook, body, type, did);
            hook->last_status = r.status;
            if (!alive()) break;
            if (r.error.empty()) {
                log::Main()->info("webhook {}: test delivery {} answered {}", hook->row.id, did, r.status.value_or(0));
                hook->row.last_error.clear();
            } else {
                log::Main()->warn("webhook {} ({}): test delivery {} failed: {}", hook->row.id, hook->url.Origin(), did, r.error);
                hook->row.last_error = r.error;
            }
            store::WebhookChanges c;
            c.webhooks.push_back(hook->row);
            Persist(c);
            continue;
        }
        if (batch.empty()) {
            auto rows = m_store.LoadDeliveries(hook->row.id, store::DeliveryState::Pending, kLoadBatch);
            if (!rows) {
                log::Store()->error("webhook {}: cannot read deliveries: {}", hook->row.id, rows.error().message);
                co_await Sleep(*hook, kStoreRetry);
                continue;
            }
            batch.assign(rows->begin(), rows->end());
        }
        if (batch.empty()) {
            if (hook->kicked) {
                hook->kicked = false;
                continue;
            }
            co_await Sleep(*hook, kIdle);
            continue;
        }
        // The first delivery that is due, in event order. One that keeps failing waits out its
        // backoff without holding back the ones after it: no alert waits behind another.
        const int64_t now = NowMs();
        size_t k = 0;
        int64_t next_due = std::numeric_limits<int64_t>::max();
        for (; k < batch.size(); ++k) {
            if (batch[k].attempts > 0 && batch[k].created_at * 1000 + m_opts.retry_horizon.count() < now) break; // to give up on
            if (batch[k].next_attempt_at <= now) break;
            next_due = std::min(next_due, batch[k].next_attempt_at);
        }
        if (k == batch.size()) {
            // Nothing due: sleep until the first is, or until new deliveries are queued (then re-read).
            co_await Sleep(*hook, milliseconds{std::min<int64_t>(next_due - now, kIdle.count())});
            batch.clear();
            continue;
        }
        store::DeliveryRow& d = batch[k];
        auto drop = [&] { batch.erase(batch.begin() + static_cast<std::ptrdiff_t>(k)); };
        if (d.attempts > 0 && d.created_at * 1000 + m_opts.retry_horizon.count() < now) {
            GiveUp(*hook, d, "");
            drop();
            continue;
        }
        auto events = m_store.LoadEvents(d.event_seq - 1, 1);
        if (!events) {
            log::Store()->error("webhook {}: cannot read event {}: {}", hook->row.id, d.event_seq, events.error().message);
            co_await Sleep(*hook, kStoreRetry);
            continue;
        }
        if (events->empty() || events->front().seq != d.event_seq) {
            GiveUp(*hook, d, "event " + std::to_string(d.event_seq) + " is not in the event log");
            drop();
            continue;
        }
        const store::EventRow& e = events->front();
        json::object data;
        {
            boost::system::error_code ec;
            json::value parsed = json::parse(e.data, ec);
            if (!ec && parsed.is_object()) data = std::move(parsed.as_object());
        }
        if (!e.vault_id.empty() && !data.contains("vault_id")) data["vault_id"] = e.vault_id;
        if (!e.txid.empty() && !data.contains("txid")) data["txid"] = e.txid;
        if (!data.contains("height")) data["height"] = e.height ? json::value(*e.height) : json::value(nullptr);
        const std::string did = DeliveryId(hook->row.id, e.seq);
        const std::string type = e.type;
        const std::string body = notify::WebhookPayload(did, type, e.created_at, m_opts.chain, data);
        const WebhookAttempt r = co_await Post(hook, body, type, did);
        hook->last_status = r.status;
        if (m_stopping || hook->removed) break;
        if (r.error.empty()) {
            ++m_stats.delivered;
            ++hook->row.delivered;
            hook->row.last_error.clear();
            store::WebhookChanges c;
            c.webhooks.push_back(hook->row);
            c.delivered.emplace_back(hook->row.id, e.seq);
            if (!Persist(c)) {
                // Not recorded: it will be sent again (same delivery id) once the store recovers.
                --hook->row.delivered;
                co_await Sleep(*hook, kStoreRetry);
                batch.clear();
                continue;
            }
            log::Main()->debug("webhook {}: delivered {} ({})", hook->row.id, did, type);
            drop();
            continue;
        }
        RecordFailure(*hook, d, r, type);
        if (d.state == store::DeliveryState::Failed) drop();
    }
    hook->running = false;
}

net::awaitable<WebhookAttempt> WebhookDispatcher::Post(std::shared_ptr<Hook> hook, std::string body, std::string type, std::string delivery_id)
{
    ++m_stats.attempts;
    hook->last_attempt_at = NowMs();
    const notify::WebhookUrl url = hook->url;
    const auto deadline = std::chrono::steady_clock::now() + m_opts.attempt_timeout;
    AbortGuard guard{hook->abort};
    WebhookAttempt out;

    http::request<http::string_body> req{http::verb::post, url.target, 11};
    req.set(http::field::host, url.HostHeader());
    req.set(http::field::user_agent, std::string("vaultwatchd/") + VW_VERSION);
    req.set(http::field::content_type, "application/json");
    req.set(http::field::connection, "close");
    req.set("Vaultwatch-Event", type);
    req.set("Vaultwatch-Delivery", delivery_id);
    req.set("Vaultwatch-Signature", notify::WebhookSignatureHeader(hook->row.secret, NowMs() / 1000, body));
    req.body() = std::move(body);
    req.prepare_payload();

    // Resolution goes through the system resolver (bounded by its own timeouts); every step
    // after it shares one deadline (beast's stream timeout closes the socket when it passes).
    auto resolver = std::make_shared<tcp::resolver>(m_ex);
    hook->abort = [resolver] { resolver->cancel(); };
    const std::string port = std::to_string(url.port);
    auto [rec, endpoints] = co_await resolver->async_resolve(url.host, port, net::as_tuple(net::use_awaitable));
    if (rec) {
        out.error = "resolve " + url.host + ": " + Msg(rec);
        co_return out;
    }
    if (std::chrono::steady_clock::now() >= deadline) {
        out.error = "timed out resolving " + url.host;
        co_return out;
    }
    if (!url.tls) {
        beast::tcp_stream s{m_ex};
        hook->abort = [&s] { s.close(); };
        s.expires_at(deadline);
        auto [cec, ep] = co_await s.async_connect(endpoints, net::as_tuple(net::use_awaitable));
        (void)ep;
        if (cec) {
            out.error = "connect: " + Msg(cec);
            co_return out;
        }
        out = co_await Exchange(s, req);
        boost::system::error_code ignored;
        s.socket().shutdown(tcp::socket::shutdown_both, ignored);
        co_return out;
    }
    beast::ssl_stream<beast::tcp_stream> s{m_ex, *m_ssl};
    hook->abort = [&s] { beast::get_lowest_layer(s).close(); };
    SSL* ssl = s.native_handle();
    boost::system::error_code ip_ec;
    (void)net::ip::make_address(url.host, ip_ec);
    if (ip_ec) {
        // A DNS name: SNI, and the certificate must name it (no partial wildcards).
        SSL_ctrl(ssl, SSL_CTRL_SET_TLSEXT_HOSTNAME, TLSEXT_NAMETYPE_host_name, const_cast<char*>(url.host.c_str()));
        SSL_set_hostflags(ssl, X509_CHECK_FLAG_NO_PARTIAL_WILDCARDS);
        if (SSL_set1_host(ssl, url.host.c_str()) != 1) {
            out.error = "cannot set the TLS host name " + url.host;
            co_return out;
        }
    } else if (X509_VERIFY_PARAM_set1_ip_asc(SSL_get0_param(ssl), url.host.c_str()) != 1) {
        out.error = "cannot set the TLS peer address " + url.host;
        co_return out;
    }
    auto& tcp_layer = beast::get_lowest_layer(s);
    tcp_layer.expires_at(deadline);
    auto [cec, ep] = co_await tcp_layer.async_connect(endpoints, net::as_tuple(net::use_awaitable));
    (void)ep;
    if (cec) {
        out.error = "connect: " + Msg(cec);
        co_return out;
    }
    auto [hec] = co_await s.async_handshake(net::ssl::stream_base::client, net::as_tuple(net::use_awaitable));
    if (hec) {
        const long verify = SSL_get_verify_result(ssl);
        out.error = "TLS handshake: " + Msg(hec);
        if (verify != X509_V_OK) out.error += std::string(" (") + X509_verify_cert_error_string(verify) + ")";
        co_return out;
    }
    out = co_await Exchange(s, req);
    // No TLS close_notify round trip: the request was Connection: close and the status is in.
    co_return out;
}

// --- control -------------------------------------------------------------------------------

Expected<json::value, WebhookError> WebhookDispatcher::Add(const std::string& url, const std::string& secret, const std::string& events)
{
    auto u = notify::ParseWebhookUrl(url);
    if (!u) return Unexpected{WebhookError{rpc::RPC_INVALID_PARAMETER, u.error()}};
    if (secret.size() < 16) return Unexpected{WebhookError{rpc::RPC_INVALID_PARAMETER, "secret must be at least 16 characters"}};
    if (secret.size() > 1024) return Unexpected{WebhookError{rpc::RPC_INVALID_PARAMETER, "secret must be at most 1024 characters"}};
    auto f = notify::ParseEventFilter(events);
    if (!f) return Unexpected{WebhookError{rpc::RPC_INVALID_PARAMETER, f.error()}};
    auto last = m_store.LastEventSeq();
    if (!last) return Unexpected{WebhookError{rpc::RPC_MISC_ERROR, last.error().message}};

    std::shared_ptr<Hook> hook;
    bool updated = false;
    for (const auto& [id, h] : m_hooks) {
        if (h->row.url != url) continue;
        if (h->row.source == "config") {
            return Unexpected{WebhookError{rpc::RPC_INVALID_PARAMETER, "this URL is configured in vaultwatch.conf as " + id}};
        }
        hook = h;
        updated = true;
    }
    store::WebhookRow row;
    if (hook) {
        row = hook->row;
        if (!row.enabled) row.enabled = true; // every event since it was disabled is still owed
    } else {
        if (m_hooks.size() >= kMaxWebhooks) {
            return Unexpected{WebhookError{rpc::RPC_INVALID_PARAMETER, "at most " + std::to_string(kMaxWebhooks) + " webhooks"}};
        }
        row.id = RandomId();
        while (m_hooks.contains(row.id)) row.id = RandomId();
        row.source = "rpc";
        row.cursor = *last;
        row.created_at = NowMs() / 1000;
    }
    row.url = url;
    row.secret = secret;
    row.events = notify::JoinEventFilter(*f);
    row.last_error.clear();
    store::WebhookChanges c;
    c.webhooks.push_back(row);
    if (auto r = m_store.ApplyWebhooks(c); !r) return Unexpected{WebhookError{rpc::RPC_MISC_ERROR, r.error().message}};
    if (!hook) {
        hook = std::make_shared<Hook>(m_ex);
        m_hooks.emplace(row.id, hook);
    }
    hook->row = row;
    hook->url = *u;
    hook->filter = *f;
    log::Main()->info("webhook {} ({}) {}, events {}", row.id, u->Origin(), updated ? "updated" : "added", row.events);
    SpawnHook(hook);
    json::object out{{"webhook_id", row.id}, {"url", row.url}, {"events", row.events}, {"enabled", row.enabled}};
    if (updated) out["updated"] = true;
    return json::value(std::move(out));
}

json::value WebhookDispatcher::List() const
{
    std::vector<const Hook*> hooks;
    for (const auto& [_, h] : m_hooks) hooks.push_back(h.get());
    std::sort(hooks.begin(), hooks.end(), [](const Hook* a, const Hook* b) {
        return std::tie(a->row.created_at, a->row.id) < std::tie(b->row.created_at, b->row.id);
    });
    json::array out;
    for (const Hook* h : hooks) {
        auto pending = m_store.CountDeliveries(h->row.id, store::DeliveryState::Pending);
        json::value oldest = nullptr;
        if (auto head = m_store.LoadDeliveries(h->row.id, store::DeliveryState::Pending, 1); head && !head->empty()) {
            const auto& d = head->front();
            oldest = json::object{{"delivery_id", DeliveryId(h->row.id, d.event_seq)},
                                  {"attempts", d.attempts},
                                  {"last_status", d.last_status ? json::value(*d.last_status) : json::value(nullptr)},
                                  {"last_error", d.last_error},
                                  {"next_attempt_at", d.next_attempt_at / 1000}};
        }
        out.push_back(json::object{{"webhook_id", h->row.id},
                                   {"url", h->row.url},
                                   {"events", h->row.events},
                                   {"enabled", h->row.enabled},
                                   {"source", h->row.source},
                                   {"delivered", h->row.delivered},
                                   {"failed", h->row.failed},
                                   {"pending", pending ? json::value(*pending) : json::value(nullptr)},
                                   {"oldest_pending", std::move(oldest)},
                                   {"last_status", h->last_status ? json::value(*h->last_status) : json::value(nullptr)},
                                   {"last_error", h->row.last_error},
                                   {"created_at", h->row.created_at}});
    }
    return json::object{{"webhooks", std::move(out)}};
}

Expected<json::value, WebhookError> WebhookDispatcher::Remove(const std::string& id)
{
    auto it = m_hooks.find(id);
    if (it == m_hooks.end()) return Unexpected{WebhookError{rpc::RPC_NOT_FOUND, "no webhook " + id}};
    if (it->second->row.source == "config") {
        return Unexpected{WebhookError{rpc::RPC_INVALID_PARAMETER, id + " is defined in vaultwatch.conf (webhook=): remove it there and restart"}};
    }
    store::WebhookChanges c;
    c.removed.push_back(id);
    if (auto r = m_store.ApplyWebhooks(c); !r) return Unexpected{WebhookError{rpc::RPC_MISC_ERROR, r.error().message}};
    auto hook = it->second;
    hook->removed = true;
    hook->wake.cancel();
    if (hook->abort) hook->abort();
    m_hooks.erase(it);
    log::Main()->info("webhook {} removed", id);
    return json::value(json::object{{"webhook_id", id}, {"removed", true}});
}

Expected<json::value, WebhookError> WebhookDispatcher::Test(const std::string& id)
{
    auto it = m_hooks.find(id);
    if (it == m_hooks.end()) return Unexpected{WebhookError{rpc::RPC_NOT_FOUND, "no webhook " + id}};
    auto& hook = it->second;
    if (!hook->row.enabled) return Unexpected{WebhookError{rpc::RPC_INVALID_PARAMETER, id + " is disabled (" + hook->row.last_error + ")"}};
    if (hook->tests.size() >= 10) return Unexpected{WebhookError{rpc::RPC_INVALID_PARAMETER, "10 test deliveries are already queued"}};
    const std::string did = id + ":test-" + std::to_string(NowMs());
    hook->tests.push_back(did);
    hook->kicked = true;
    hook->wake.cancel();
    SpawnHook(hook);
    return json::value(json::object{{"webhook_id", id}, {"delivery_id", did}, {"queued", true}});
}

} // namespace vw::daemon
