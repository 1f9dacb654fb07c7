#pragma once
// Signed webhooks (docs/product.md §7, docs/webhooks.md): at-least-once delivery of the event log.
//
// The engine only appends rows to `events`, in the transaction of the state change that caused
// them. The dispatcher, on the same io thread but in coroutines of its own, copies new events
// into `webhook_deliveries` for every enabled hook whose filter matches and advances that hook's
// cursor (one transaction), then POSTs them per hook, in seq order, one at a time, each attempt
// bounded by a deadline, over its own sockets. A row is deleted only after a 2xx, so a crash at
// any point repeats a delivery (same Vaultwatch-Delivery id) and never skips one. Failures are
// retried with exponential backoff and jitter until the horizon, then given up (logged,
// counted); 410 Gone is retried like any failure (a hook is disabled only in the store, by an
// operator, never by its endpoint). Secrets are never logged or returned.

#include "control.h"
#include "notify/webhook.h"
#include "store/store.h"

#include <boost/asio/any_io_executor.hpp>
#include <boost/asio/awaitable.hpp>
#include <boost/asio/steady_timer.hpp>
#include <boost/json/value.hpp>

#include <chrono>
#include <deque>
#include <functional>
#include <map>
#include <memory>
#include <optional>
#include <random>
#include <string>
#include <vector>

namespace boost::asio::ssl {
class context;
}

namespace vw::daemon {

struct WebhookOptions {
    std::string chain{"main"};                                      //!< the payload's chain field
    std::chrono::milliseconds attempt_timeout{std::chrono::seconds{10}};
    std::chrono::milliseconds retry_horizon{std::chrono::hours{24}};   //!< counted from the event's created_at
    std::chrono::milliseconds base_backoff{250}; //!< the first retry's wait (doubling from there, with jitter)
    std::chrono::milliseconds max_backoff{std::chrono::minutes{10}};
    std::chrono::milliseconds poll_interval{std::chrono::milliseconds{200}}; //!< how often the event log is checked
    std::string ca_file;                                            //!< PEM bundle; empty = system CA store
    std::function<int64_t()> now_ms;                                //!< unix milliseconds (tests fix it)
};

//! A webhook= line of the config file.
struct ConfiguredWebhook {
    std::string url;
    std::string secret;
    std::string events{"*"};
};

//! What one HTTP attempt came to.
struct WebhookAttempt {
    std::optional<unsigned> status;   //!< HTTP status, when a response header arrived
    std::string error;                //!< why it does not count as delivered ('' on 2xx)
};

struct WebhookStats {
    uint64_t attempts{0};
    uint64_t delivered{0};
    uint64_t failed_attempts{0};
    uint64_t given_up{0};
};

class WebhookDispatcher final : public WebhookControl
{
public:
    WebhookDispatcher(boost::asio::any_io_executor ex, store::Store& store, WebhookOptions opts);
    ~WebhookDispatcher();
    WebhookDispatcher(const WebhookDispatcher&) = delete;
    WebhookDispatcher& operator=(const WebhookDispatcher&) = delete;

    //! Loads the hooks from the store and upserts the configured ones (stable ids derived from
    //! the URL; config hooks no longer configured are removed). Returns an operator-facing error
    //! (bad URL, unreadable CA file, database error).
    Expected<void, std::string> Load(const std::vector<ConfiguredWebhook>& configured);
    void Start();
    void Stop();
    //! New events may be in the log: look now rather than at the next poll.
    void Kick();

    // --- control (RPC handlers; on the io thread) -------------------------------------------
    Result Add(const std::string& url, const std::string& secret, const std::string& events) override;
    boost::json::value List() const override;
    Result Remove(const std::string& id) override;
    Result Test(const std::string& id) override;

    const WebhookStats& stats() const { return m_stats; }
    //! Deliveries waiting, over every hook (metrics).
    int64_t Pending() const;
    //! The id a config-file hook with this URL gets.
    static std::string ConfigWebhookId(const std::string& url);

private:
    struct Hook;

    boost::asio::awaitable<void> PollLoop();
    boost::asio::awaitable<void> HookLoop(std::shared_ptr<Hook> hook);
    boost::asio::awaitable<WebhookAttempt> Post(std::shared_ptr<Hook> hook, std::string body, std::string type, std::string delivery_id);
    //! Queues the events after each enabled hook's cursor. Returns false on a store error.
    bool QueueNewEvents();
    void SpawnHook(const std::shared_ptr<Hook>& hook);
    bool Persist(store::WebhookChanges c);
    boost::asio::awaitable<void> Sleep(Hook& hook, std::chrono::milliseconds d);
    //! Writes the outcome of a failed attempt on d (backoff) or gives it up.
    void RecordFailure(Hook& hook, store::DeliveryRow& d, const WebhookAttempt& r, const std::string& type);
    void GiveUp(Hook& hook, store::DeliveryRow& d, const std::string& why);
    int64_t NowMs() const;

    boost::asio::any_io_executor m_ex;
    store::Store& m_store;
    WebhookOptions m_opts;
    std::unique_ptr<boost::asio::ssl::context> m_ssl;
    std::map<std::string, std::shared_ptr<Hook>> m_hooks;
    boost::asio::steady_timer m_poll_wake;
    bool m_started{false};
    bool m_stopping{false};
    std::mt19937_64 m_rng;
    WebhookStats m_stats;
};

} // namespace vw::daemon
