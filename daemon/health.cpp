#include "health.h"

namespace vw::daemon {

HealthVerdict AssessHealth(const FollowerStatus& s, std::chrono::steady_clock::time_point now, HealthState& st, const HealthOptions& o)
{
    using std::chrono::duration_cast;
    using std::chrono::minutes;
    if (st.cursor_since == std::chrono::steady_clock::time_point{} || s.cursor.height != st.cursor) {
        st.cursor = s.cursor.height;
        st.cursor_since = now;
    }
    if (st.tip_since == std::chrono::steady_clock::time_point{} || s.node_tip != st.node_tip) {
        st.node_tip = s.node_tip;
        st.tip_since = now;
    }
    HealthVerdict v;
    const bool reachable = s.node == FollowerStatus::Node::Ok;
    if (reachable && s.node_tip > s.cursor.height && s.store_error.empty() && now - st.cursor_since >= o.stuck_after) {
        // Restarting fixes a wedged follower; it would not fix a node that is down or a full
        // disk, which are reported instead and keep the pings going.
        v.ping = false;
        v.status = "stuck: height " + std::to_string(s.cursor.height) + " while the node is at " + std::to_string(s.node_tip) + " for " +
                   std::to_string(duration_cast<minutes>(now - st.cursor_since).count()) + " min";
        return v;
    }
    if (!s.store_error.empty()) v.status = "cannot commit to the database: " + s.store_error;
    if (reachable && o.stalled_after.count() > 0 && now - st.tip_since >= o.stalled_after) {
        v.stalled = true;
        v.status = "no new block at the node for " + std::to_string(duration_cast<minutes>(now - st.tip_since).count()) +
                   " min: is bitcoind connected to the network?";
    }
    return v;
}

} // namespace vw::daemon
