#pragma once
// What /metrics shows: the daemon's components rendered as Prometheus text at each scrape.

#include <string>

namespace vw::daemon {

class ChainFollower;
class Engine;
class LoopLag;
class RpcServer;
class WebhookDispatcher;

std::string RenderDaemonMetrics(const ChainFollower& follower, const Engine& engine, const WebhookDispatcher& webhooks,
                                const RpcServer& rpc, const LoopLag& lag);

} // namespace vw::daemon
