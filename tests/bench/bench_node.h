#pragma once
// What the benches that run the real vaultwatchd against the in-process simulator share: the
// simulator's coinbase at a height, and whether the tower has caught up with it.

#include "primitives/block.h"
#include "process_util.h"
#include "regtest_sim.h"
#include "util/hex.h"

#include <boost/json.hpp>

#include <chrono>
#include <exception>
#include <filesystem>

namespace vw::bench {

//! A simulator that enforces OP_VAULT, with RPC user u:p and rawtx, hashblock and sequence on ZMQ.
inline sim::SimConfig EnforcingSimConfig()
{
    sim::SimConfig c;
    c.rpc_user = "u";
    c.rpc_password = "p";
    c.vault_active = true;
    for (const char* t : {"rawtx", "hashblock", "sequence"}) c.zmq.push_back({t, "tcp://127.0.0.1:0"});
    return c;
}

//! bitcoind's ZMQ as docs/operations.md deploys it: unix sockets in a directory only its user can
//! write (made 0700 here), so the tower acts on what they announce without asking the node first.
inline void ZmqOnUnixSockets(sim::SimConfig& c, const std::filesystem::path& dir)
{
    std::filesystem::permissions(dir, std::filesystem::perms::owner_all, std::filesystem::perm_options::replace);
    for (auto& z : c.zmq) z.address = "ipc://" + (dir / (z.topic + ".sock")).string();
}

inline Transaction Coinbase(sim::RegtestSim& s, int height)
{
    const std::string h{s.Call("getblockhash", {height}).as_string()};
    return DecodeBlock(*ParseHex(std::string_view{s.Call("getblock", {h, 0}).as_string()}))->txs.at(0);
}

//! The tower says it has caught up with the node's tip, and that the node enforces OP_VAULT.
inline bool TowerAtTip(const test::proc::SyncRpc& rpc, sim::RegtestSim& node)
{
    try {
        const auto i = rpc.Call("getinfo", {}, std::chrono::seconds{5});
        return i.at("caught_up").as_bool() && i.at("height").as_int64() == node.Height() && i.at("opvault_enforced") == true;
    } catch (const std::exception&) {
        return false;
    }
}

} // namespace vw::bench
