#include "config.h"

#include "chain_params.h"
#include "log.h"
#include "metrics_server.h"

#include <boost/program_options.hpp>

#include <fstream>
#include <set>
#include <iostream>

namespace vw::daemon {
namespace po = boost::program_options;

namespace {
// Options held in unsigned types: program_options reads "-1" into them as a huge number (or, for
// a port, as 65535), so a leading minus is refused before the value is looked at.
const std::set<std::string> kUnsignedOptions{"rpcport",           "pollseconds",        "debugdbmaxpages",    "webhooktimeout",
                                             "webhookretryhours", "webhookmaxbackoff",  "webhookminbackoffms", "feeescalatepercent",
                                             "maxfeepercent",     "bitcoind.rpcport",   "bitcoind.rpctimeout"};

//! Returns: the first option in `parsed` given a negative value where none can be, or "".
std::string NegativeUnsigned(const po::parsed_options& parsed)
{
    for (const auto& o : parsed.options) {
        if (!kUnsignedOptions.contains(o.string_key)) continue;
        for (const auto& v : o.value) {
            const auto b = v.find_first_not_of(" \t");
            if (b != std::string::npos && v[b] == '-') return o.string_key;
        }
    }
    return "";
}

po::options_description Options(Config& c)
{
    po::options_description d("vaultwatchd options");
    d.add_options()
        ("help,h", "print this help and exit")
        ("version", "print the version and exit")
        ("chain", po::value(&c.chain)->default_value("main"), "network: main, test, testnet4, signet, regtest")
        ("datadir", po::value<std::string>(), "data directory (default ~/.vaultwatch; non-main chains use <datadir>/<chain>/)")
        ("conf", po::value<std::string>(), "config file (default <datadir>/vaultwatch.conf)")
        ("rpcbind", po::value(&c.rpcbind)->default_value("127.0.0.1"), "address of the control RPC port")
        ("rpcport", po::value(&c.rpcport)->default_value(0), "control RPC port (0 = per-chain default)")
        ("rpcauth", po::value(&c.rpcauth)->composing(), "user:salt$hmac credentials, bitcoind's format (repeatable)")
        ("metricsbind", po::value(&c.metricsbind)->default_value(""), "host:port for Prometheus /metrics (empty = off)")
        ("loglevel", po::value(&c.loglevel)->default_value("info"), "trace|debug|info|warn|error, or component=level,...")
        ("logfile", po::value(&c.logfile)->default_value(""), "also log to this file (reopened on SIGHUP)")
        ("startheight", po::value(&c.start_height)->default_value(-1), "first start only: replay from this height (-1 = start at the node's tip)")
        ("pollseconds", po::value(&c.poll_seconds)->default_value(5), "reconcile with bitcoind at least this often")
        ("debugeventlog", po::value(&c.debug_eventlog)->default_value(""), "testing: append every chain event to this file")
        ("debugdbmaxpages", po::value(&c.debug_db_max_pages)->default_value(0), "testing: cap the database at this many pages, as if the disk were full beyond (0 = off)")
        ("allowunenforcedopvault", po::value(&c.allow_unenforced_opvault)->default_value(false)->implicit_value(true), "regtest testing only: accept opvault vaults although the node does not enforce OP_VAULT (their outputs are anyone-can-spend there)")
        ("allowunenforcedccv", po::value(&c.allow_unenforced_ccv)->default_value(false)->implicit_value(true), "regtest testing only: accept ccv vaults although the node was not shown to enforce OP_CHECKCONTRACTVERIFY (their outputs are anyone-can-spend where it does not)")
        ("webhook", po::value(&c.webhooks)->composing(), "POST every event to this http(s) URL, signed with webhooksecret (repeatable)")
        ("webhooksecret", po::value(&c.webhook_secret)->default_value(""), "HMAC-SHA256 key signing deliveries to the webhook= URLs (at least 16 characters)")
        ("webhookevents", po::value(&c.webhook_events)->default_value("*"), "event filter for the webhook= URLs: * or a comma-separated list of types and families (vault.trigger,recovery.*)")
        ("webhookcafile", po::value(&c.webhook_cafile)->default_value(""), "PEM CA bundle to verify HTTPS webhook endpoints (empty = the system CA store)")
        ("webhooktimeout", po::value(&c.webhook_timeout)->default_value(10), "seconds one webhook delivery attempt may take")
        ("webhookretryhours", po::value(&c.webhook_retry_hours)->default_value(24), "retry a failing webhook delivery for this many hours after its event")
        ("webhookmaxbackoff", po::value(&c.webhook_max_backoff)->default_value(600), "longest wait between two attempts of one webhook delivery, in seconds")
        ("webhookminbackoffms", po::value(&c.webhook_min_backoff_ms)->default_value(250), "wait before the first retry of a failed webhook delivery, in milliseconds (doubling with each attempt, with jitter)")
        ("feewalletkeyfile", po::value(&c.feewallet_keyfile)->default_value(""), "the fee wallet's secret key, 64 hex characters, mode 0600 (default <datadir>/feewallet.key, generated at the first start; put your own there to import one)")
        ("feewalletreserve", po::value(&c.feewallet_reserve)->default_value(0), "satoshis: alert (feewallet.low) when the fee wallet's confirmed balance falls below this (0 = off)")
        ("feewalletcoins", po::value(&c.feewallet_coins)->default_value(4), "keep this many fee coins of about one recovery's fee ready, splitting a larger coin when fewer are left (0 = never split)")
        ("fallbackfeerate", po::value(&c.fallback_feerate)->default_value(20.0), "sat/vB recoveries pay when the node has no fee estimate (a fresh or regtest node)")
        ("feeescalatepercent", po::value(&c.escalate_percent)->default_value(25), "raise a recovery's feerate by this many percent for every block it stays unconfirmed")
        ("maxfeepercent", po::value(&c.max_fee_percent)->default_value(50), "a recovery never pays more than this percentage of the value it recovers")
        ("bitcoind.rpcconnect", po::value(&c.bitcoind.rpcconnect)->default_value("127.0.0.1"), "bitcoind RPC host")
        ("bitcoind.rpcport", po::value(&c.bitcoind.rpcport)->default_value(0), "bitcoind RPC port (0 = per-chain default)")
        ("bitcoind.rpccookiefile", po::value(&c.bitcoind.rpccookiefile)->default_value(""), "bitcoind cookie file (preferred over user/password)")
        ("bitcoind.rpcuser", po::value(&c.bitcoind.rpcuser)->default_value(""), "bitcoind RPC user")
        ("bitcoind.rpcpassword", po::value(&c.bitcoind.rpcpassword)->default_value(""), "bitcoind RPC password")
        ("bitcoind.rpctimeout", po::value(&c.bitcoind.rpctimeout)->default_value(30), "seconds before a bitcoind RPC call is abandoned")
        ("bitcoind.zmqrawtx", po::value(&c.bitcoind.zmqrawtx)->default_value(""), "ZMQ rawtx endpoint (default: from getzmqnotifications)")
        ("bitcoind.zmqrawblock", po::value(&c.bitcoind.zmqrawblock)->default_value(""), "ZMQ rawblock endpoint")
        ("bitcoind.zmqhashblock", po::value(&c.bitcoind.zmqhashblock)->default_value(""), "ZMQ hashblock endpoint")
        ("bitcoind.zmqsequence", po::value(&c.bitcoind.zmqsequence)->default_value(""), "ZMQ sequence endpoint");
    return d;
}
} // namespace

std::vector<std::string> OptionNames()
{
    Config c;
    std::vector<std::string> out;
    const auto desc = Options(c);
    for (const auto& o : desc.options()) {
        if (o->long_name() != "help" && o->long_name() != "version") out.push_back(o->long_name());
    }
    return out;
}

std::filesystem::path Config::NetDir() const { return daemon::NetDir(datadir, chain); }

uint16_t Config::DefaultBitcoindRpcPort(const std::string& chain) { return daemon::DefaultBitcoindRpcPort(chain); }

uint16_t Config::DefaultRpcPort(const std::string& chain) { return daemon::DefaultRpcPort(chain); }

namespace {
//! The first line of the config file that sets option (a key k under [s] sets "s.k"), or 0.
int LineOf(const std::filesystem::path& conf, std::string option)
{
    while (!option.empty() && option[0] == '-') option.erase(0, 1);
    std::ifstream f(conf);
    std::string line, section;
    for (int n = 1; std::getline(f, line); ++n) {
        const auto b = line.find_first_not_of(" \t");
        if (b == std::string::npos || line[b] == '#') continue;
        if (line[b] == '[') {
            const auto e = line.find(']', b);
            section = e == std::string::npos ? "" : line.substr(b + 1, e - b - 1);
            continue;
        }
        std::string key = line.substr(b, line.find('=', b) - b);
        while (!key.empty() && (key.back() == ' ' || key.back() == '\t')) key.pop_back();
        if ((section.empty() ? key : section + "." + key) == option) return n;
    }
    return 0;
}
} // namespace

Expected<std::optional<Config>, std::string> ParseConfig(int argc, const char* const argv[])
{
    Config c;
    auto desc = Options(c);
    po::variables_map vm;
    std::set<std::string> cli_keys;
    try {
        const auto cli = po::parse_command_line(argc, argv, desc);
        for (const auto& o : cli.options) cli_keys.insert(o.string_key);
        if (const auto neg = NegativeUnsigned(cli); !neg.empty()) return Unexpected{neg + " cannot be negative"};
        po::store(cli, vm);
        if (vm.count("help")) {
            std::cout << desc << "\n";
            return std::optional<Config>{};
        }
        if (vm.count("version")) {
            std::cout << "vaultwatchd " << VW_VERSION << "\n";
            return std::optional<Config>{};
        }
        c.datadir = vm.count("datadir") ? std::filesystem::path(vm["datadir"].as<std::string>()) : DefaultDatadir();
        c.conf = vm.count("conf") ? std::filesystem::path(vm["conf"].as<std::string>()) : c.datadir / "vaultwatch.conf";
        if (std::filesystem::exists(c.conf)) {
            std::ifstream f(c.conf);
            if (!f) return Unexpected{"cannot read config file " + c.conf.string()};
            try {
                const auto file = po::parse_config_file(f, desc, /*allow_unregistered=*/false);
                if (const auto neg = NegativeUnsigned(file); !neg.empty() && !cli_keys.contains(neg)) {
                    const int line = LineOf(c.conf, neg);
                    return Unexpected{c.conf.string() + (line ? ":" + std::to_string(line) : "") + ": " + neg + " cannot be negative"};
                }
                po::store(file, vm);
            } catch (const po::error& e) {
                // file:line: message, so that the operator goes straight to the bad line.
                const auto* named = dynamic_cast<const po::error_with_option_name*>(&e);
                const int line = named ? LineOf(c.conf, named->get_option_name()) : 0;
                return Unexpected{c.conf.string() + (line ? ":" + std::to_string(line) : "") + ": " + e.what()};
            }
        } else if (vm.count("conf")) {
            return Unexpected{"config file " + c.conf.string() + " does not exist"};
        }
        po::notify(vm);
    } catch (const po::error& e) {
        return Unexpected{std::string(e.what())};
    }
    // An option set in the file (and not overridden by a flag) is reported as file:line: ...
    auto bad = [&](const std::string& option, const std::string& msg) -> Expected<std::optional<Config>, std::string> {
        const int line = cli_keys.contains(option) ? 0 : LineOf(c.conf, option);
        return Unexpected{line ? c.conf.string() + ":" + std::to_string(line) + ": " + msg : msg};
    };
    if (std::find(kChains.begin(), kChains.end(), c.chain) == kChains.end()) {
        return bad("chain", "chain=" + c.chain + " is not one of main, test, testnet4, signet, regtest");
    }
    if (c.rpcport == 0) c.rpcport = Config::DefaultRpcPort(c.chain);
    if (c.bitcoind.rpcport == 0) c.bitcoind.rpcport = Config::DefaultBitcoindRpcPort(c.chain);
    if (c.bitcoind.rpccookiefile.empty() && c.bitcoind.rpcuser.empty()) {
        return Unexpected{"no bitcoind credentials: set bitcoind.rpccookiefile (the absolute path of bitcoind's .cookie, e.g. "
                          "/var/lib/bitcoind/.cookie beside Bitcoin Core's bitcoind.service; docs/operations.md) or "
                          "bitcoind.rpcuser/bitcoind.rpcpassword"};
    }
    if (auto e = log::CheckLevels(c.loglevel)) return bad("loglevel", *e);
    if (c.poll_seconds == 0 || c.poll_seconds > 3600) return bad("pollseconds", "pollseconds must be between 1 and 3600");
    if (c.bitcoind.rpctimeout == 0 || c.bitcoind.rpctimeout > 3600) {
        return bad("bitcoind.rpctimeout", "bitcoind.rpctimeout must be between 1 and 3600 seconds");
    }
    if (c.start_height < -1) return bad("startheight", "startheight must be -1 (the node's tip) or a height");
    if (!c.bitcoind.rpccookiefile.empty() && std::filesystem::path(c.bitcoind.rpccookiefile).is_relative()) {
        // "~" is not expanded in a config file, and a relative path depends on where we start.
        return bad("bitcoind.rpccookiefile", "bitcoind.rpccookiefile=" + c.bitcoind.rpccookiefile + " is not an absolute path");
    }
    if (!c.bitcoind.rpccookiefile.empty() && !c.bitcoind.rpcuser.empty()) {
        return bad("bitcoind.rpcuser", "bitcoind.rpccookiefile and bitcoind.rpcuser are both set: use one way to log in to bitcoind");
    }
    if (c.bitcoind.rpcuser.empty() != c.bitcoind.rpcpassword.empty()) {
        return bad(c.bitcoind.rpcuser.empty() ? "bitcoind.rpcpassword" : "bitcoind.rpcuser",
                   "bitcoind.rpcuser and bitcoind.rpcpassword go together");
    }
    if (c.allow_unenforced_opvault && c.chain != "regtest") {
        return bad("allowunenforcedopvault", "allowunenforcedopvault is for regtest tests only: on " + c.chain +
                                                 " an OP_VAULT output is anyone-can-spend unless the node enforces it");
    }
    if (c.allow_unenforced_ccv && c.chain != "regtest") {
        return bad("allowunenforcedccv", "allowunenforcedccv is for regtest tests only: on " + c.chain +
                                             " a ccv vault's output is anyone-can-spend unless the node enforces OP_CHECKCONTRACTVERIFY");
    }
    if (!c.webhooks.empty() && c.webhook_secret.size() < 16) {
        return bad(c.webhook_secret.empty() ? "webhook" : "webhooksecret",
                   "webhook= needs webhooksecret= (at least 16 characters): every delivery is signed with it");
    }
    if (c.feewallet_reserve < 0 || c.feewallet_reserve > 2'100'000'000'000'000) return bad("feewalletreserve", "feewalletreserve must be between 0 and 21e14 satoshis");
    if (c.feewallet_coins < 0 || c.feewallet_coins > 100) return bad("feewalletcoins", "feewalletcoins must be between 0 and 100");
    if (!(c.fallback_feerate >= 0.1 && c.fallback_feerate <= 100'000)) return bad("fallbackfeerate", "fallbackfeerate must be between 0.1 and 100000 sat/vB");
    if (c.escalate_percent > 1000) return bad("feeescalatepercent", "feeescalatepercent must be at most 1000");
    if (c.max_fee_percent == 0 || c.max_fee_percent > 100) return bad("maxfeepercent", "maxfeepercent must be between 1 and 100");
    if (c.webhook_timeout == 0 || c.webhook_timeout > 600) return bad("webhooktimeout", "webhooktimeout must be between 1 and 600 seconds");
    if (c.webhook_retry_hours == 0 || c.webhook_retry_hours > 24 * 365) {
        return bad("webhookretryhours", "webhookretryhours must be between 1 and 8760 (a year)");
    }
    if (c.webhook_max_backoff == 0 || c.webhook_max_backoff > 86400) {
        return bad("webhookmaxbackoff", "webhookmaxbackoff must be between 1 and 86400 seconds");
    }
    if (c.webhook_min_backoff_ms == 0 || c.webhook_min_backoff_ms > 1000u * c.webhook_max_backoff) {
        return bad("webhookminbackoffms", "webhookminbackoffms must be at least 1 and at most webhookmaxbackoff");
    }
    if (!c.metricsbind.empty()) {
        std::string why;
        const auto mb = ParseMetricsBind(c.metricsbind, &why);
        if (!mb) return bad("metricsbind", why);
        if (mb->second == c.rpcport && (mb->first == c.rpcbind || mb->first == "0.0.0.0" || c.rpcbind == "0.0.0.0")) {
            return bad("metricsbind", "metricsbind=" + c.metricsbind + " is the control port's address (rpcbind, rpcport)");
        }
    }
    return std::optional<Config>{std::move(c)};
}

} // namespace vw::daemon
