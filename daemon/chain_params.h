#pragma once
// What vaultwatchd and vaultwatch-cli must agree on without a config file between them: the
// chains, each chain's default ports, and where the data lives. Header-only: the cli links none
// of the daemon.

#include <array>
#include <cstdint>
#include <cstdlib>
#include <filesystem>
#include <string_view>

namespace vw::daemon {

inline constexpr std::array<std::string_view, 5> kChains{"main", "test", "testnet4", "signet", "regtest"};

//! vaultwatchd's own control port for the chain.
inline uint16_t DefaultRpcPort(std::string_view chain)
{
    if (chain == "test") return 18345;
    if (chain == "testnet4") return 48345;
    if (chain == "signet") return 38345;
    if (chain == "regtest") return 18545;
    return 8345;
}

//! bitcoind's RPC port for the chain.
inline uint16_t DefaultBitcoindRpcPort(std::string_view chain)
{
    if (chain == "test") return 18332;
    if (chain == "testnet4") return 48332;
    if (chain == "signet") return 38332;
    if (chain == "regtest") return 18443;
    return 8332;
}

//! ~/.vaultwatch, as bitcoind's ~/.bitcoin.
inline std::filesystem::path DefaultDatadir()
{
    const char* home = std::getenv("HOME");
    return std::filesystem::path(home ? home : ".") / ".vaultwatch";
}

//! Where the packaged service keeps its data (contrib/systemd: StateDirectory=vaultwatch).
inline const std::filesystem::path kServiceDatadir{"/var/lib/vaultwatch"};

//! <datadir>/<chain>/ for every chain but main, as bitcoind does.
inline std::filesystem::path NetDir(const std::filesystem::path& datadir, std::string_view chain)
{
    return chain == "main" ? datadir : datadir / chain;
}

} // namespace vw::daemon
