// vaultwatch-cli: talks to vaultwatchd's control port like bitcoin-cli talks to bitcoind.
//   vaultwatch-cli [options] <method> [args...]
// Arguments that parse as JSON are sent as JSON, others as strings (bitcoin-cli's rule for
// untyped arguments). With -named, arguments are name=value pairs.
#include "chain_params.h"
#include "rpc/auth.h"

#include <boost/asio/connect.hpp>
#include <boost/asio/io_context.hpp>
#include <boost/asio/ip/tcp.hpp>
#include <boost/beast/core.hpp>
#include <boost/beast/http.hpp>
#include <boost/json.hpp>

#include <algorithm>
#include <cstdlib>
#include <filesystem>
#include <fstream>
#include <iostream>
#include <optional>
#include <thread>
#include <string>
#include <vector>

namespace net = boost::asio;
namespace beast = boost::beast;
namespace http = beast::http;
namespace json = boost::json;

namespace {

void Usage()
{
    std::cout << "Usage: vaultwatch-cli [options] <method> [params]\n"
                 "       vaultwatch-cli [options] -named <method> [name=value]...\n"
                 "       vaultwatch-cli [options] help [method]\n\n"
                 "Options:\n"
                 "  -datadir=<dir>      vaultwatchd's data directory (default ~/.vaultwatch, else /var/lib/vaultwatch)\n"
                 "  -chain=<chain>      main, test, testnet4, signet, regtest (default main)\n"
                 "  -regtest            same as -chain=regtest\n"
                 "  -rpcconnect=<host>  default 127.0.0.1\n"
                 "  -rpcport=<port>     default per chain (main 8345, regtest 18545, ...)\n"
                 "  -rpccookiefile=<f>  default <datadir>/[<chain>/].cookie\n"
                 "  -rpcuser=<u> -rpcpassword=<p>  instead of the cookie\n"
                 "  -rpcwait            wait for the daemon to come up (up to -rpcwaittimeout s, default 30)\n"
                 "  -named              pass named arguments (name=value)\n"
                 "  -stdin              read extra arguments from standard input, one per line\n";
}

json::value ArgValue(const std::string& s)
{
    boost::system::error_code ec;
    json::value v = json::parse(s, ec);
    if (!ec) return v;
    return json::value(s);
}

void PrettyPrint(std::ostream& os, const json::value& jv, std::string indent = "")
{
    switch (jv.kind()) {
    case json::kind::object: {
        const auto& obj = jv.as_object();
        if (obj.empty()) {
            os << "{}";
            return;
        }
        os << "{\n";
        indent += "  ";
        for (auto it = obj.begin(); it != obj.end(); ++it) {
            os << indent << json::serialize(it->key()) << ": ";
            PrettyPrint(os, it->value(), indent);
            if (std::next(it) != obj.end()) os << ",";
            os << "\n";
        }
        indent.resize(indent.size() - 2);
        os << indent << "}";
        return;
    }
    case json::kind::array: {
        const auto& arr = jv.as_array();
        if (arr.empty()) {
            os << "[]";
            return;
        }
        os << "[\n";
        indent += "  ";
        for (auto it = arr.begin(); it != arr.end(); ++it) {
            os << indent;
            PrettyPrint(os, *it, indent);
            if (std::next(it) != arr.end()) os << ",";
            os << "\n";
        }
        indent.resize(indent.size() - 2);
        os << indent << "]";
        return;
    }
    default: os << json::serialize(jv);
    }
}

} // namespace

int main(int argc, char** argv)
{
    std::string datadir, chain = "main", host = "127.0.0.1", cookiefile, user, password;
    std::optional<uint16_t> port;
    bool named = false, read_stdin = false, wait = false;
    int wait_timeout = 30;
    std::vector<std::string> rest;
    for (int i = 1; i < argc; ++i) {
        std::string a = argv[i];
        if (!rest.empty() || a.empty() || a[0] != '-') {
            rest.push_back(a);
            continue;
        }
        if (a.starts_with("--")) a = a.substr(1);
        auto val = [&](const char* key) -> std::optional<std::string> {
            const std::string k = std::string("-") + key + "=";
            if (a.starts_with(k)) return a.substr(k.size());
            return std::nullopt;
        };
        if (a == "-h" || a == "-help" || a == "-?") {
            Usage();
            return 0;
        } else if (auto v = val("datadir")) {
            datadir = *v;
        } else if (auto v = val("chain")) {
            chain = *v;
        } else if (a == "-regtest") {
            chain = "regtest";
        } else if (auto v = val("rpcconnect")) {
            host = *v;
        } else if (auto v = val("rpcport")) {
            try {
                port = static_cast<uint16_t>(std::stoul(*v));
            } catch (...) {
                std::cerr << "error: invalid -rpcport=" << *v << "\n";
                return 1;
            }
        } else if (auto v = val("rpccookiefile")) {
            cookiefile = *v;
        } else if (auto v = val("rpcuser")) {
            user = *v;
        } else if (auto v = val("rpcpassword")) {
            password = *v;
        } else if (a == "-named") {
            named = true;
        } else if (a == "-stdin") {
            read_stdin = true;
        } else if (a == "-rpcwait") {
            wait = true;
        } else if (auto v = val("rpcwaittimeout")) {
            wait_timeout = std::atoi(v->c_str());
        } else {
            std::cerr << "error: unknown option " << argv[i] << " (see -help)\n";
            return 1;
        }
    }
    if (read_stdin) {
        std::string line;
        while (std::getline(std::cin, line)) rest.push_back(line);
    }
    if (rest.empty()) {
        Usage();
        return 1;
    }
    if (std::find(vw::daemon::kChains.begin(), vw::daemon::kChains.end(), chain) == vw::daemon::kChains.end()) {
        std::cerr << "error: -chain=" << chain << " is not one of main, test, testnet4, signet, regtest\n";
        return 1;
    }
    if (datadir.empty()) {
        // ~/.vaultwatch as vaultwatchd's default; else the packaged service's, so that
        // `sudo -u vaultwatch vaultwatch-cli getinfo` finds its cookie.
        std::error_code ec;
        const auto home = vw::daemon::DefaultDatadir();
        datadir = (!std::filesystem::exists(home, ec) && std::filesystem::exists(vw::daemon::kServiceDatadir, ec) ? vw::daemon::kServiceDatadir : home).string();
    }
    const std::filesystem::path netdir = vw::daemon::NetDir(datadir, chain);
    if (!port) port = vw::daemon::DefaultRpcPort(chain);

    json::object req{{"jsonrpc", "2.0"}, {"id", 1}, {"method", rest[0]}};
    if (named) {
        json::object params;
        for (size_t i = 1; i < rest.size(); ++i) {
            const auto eq = rest[i].find('=');
            if (eq == std::string::npos) {
                std::cerr << "error: -named argument '" << rest[i] << "' is not name=value\n";
                return 1;
            }
            params[rest[i].substr(0, eq)] = ArgValue(rest[i].substr(eq + 1));
        }
        req["params"] = std::move(params);
    } else {
        json::array params;
        for (size_t i = 1; i < rest.size(); ++i) params.push_back(ArgValue(rest[i]));
        req["params"] = std::move(params);
    }

    std::string userpass;
    if (!user.empty()) {
        userpass = user + ":" + password;
    }
    const auto deadline = std::chrono::steady_clock::now() + std::chrono::seconds{wait_timeout};
    for (;;) {
        if (user.empty()) {
            const auto cf = cookiefile.empty() ? netdir / ".cookie" : std::filesystem::path(cookiefile);
            std::ifstream f(cf);
            if (!f) {
                if (wait && std::chrono::steady_clock::now() < deadline) {
                    std::this_thread::sleep_for(std::chrono::milliseconds{250});
                    continue;
                }
                std::cerr << "error: could not read the cookie file " << cf.string()
                          << " (is vaultwatchd running with -datadir=" << datadir << " -chain=" << chain << "?)\n";
                return 1;
            }
            std::getline(f, userpass);
        }
        try {
            net::io_context io;
            net::ip::tcp::resolver resolver{io};
            beast::tcp_stream stream{io};
            stream.expires_after(std::chrono::seconds{900});
            stream.connect(resolver.resolve(host, std::to_string(*port)));
            http::request<http::string_body> hreq{http::verb::post, "/", 11};
            hreq.set(http::field::host, host);
            hreq.set(http::field::content_type, "application/json");
            hreq.set(http::field::authorization, vw::rpc::BasicAuthHeader(userpass));
            hreq.body() = json::serialize(req);
            hreq.prepare_payload();
            http::write(stream, hreq);
            beast::flat_buffer buf;
            http::response<http::string_body> res;
            http::read(stream, buf, res);
            if (res.result_int() == 401) {
                std::cerr << "error: authorization failed: incorrect rpcuser or rpcpassword, or a stale cookie\n";
                return 1;
            }
            boost::system::error_code ec;
            const json::value reply = json::parse(res.body(), ec);
            if (ec || !reply.is_object()) {
                std::cerr << "error: HTTP " << res.result_int() << " with a body that is not JSON-RPC: " << res.body() << "\n";
                return 1;
            }
            if (const auto* err = reply.as_object().if_contains("error"); err && !err->is_null()) {
                // -28 (warming up): a node or daemon still starting, which -rpcwait waits out as bitcoin-cli does.
                const auto* code = err->is_object() ? err->as_object().if_contains("code") : nullptr;
                if (wait && code && code->is_int64() && code->as_int64() == -28 && std::chrono::steady_clock::now() < deadline) {
                    std::this_thread::sleep_for(std::chrono::milliseconds{250});
                    continue;
                }
                std::cerr << "error code: " << err->at("code") << "\nerror message:\n"
                          << std::string_view{err->at("message").as_string()} << "\n";
                return 1;
            }
            const json::value& result = reply.at("result");
            if (result.is_object() && result.as_object().size() == 1 && result.as_object().contains("help") &&
                result.at("help").is_string()) {
                std::cout << std::string_view{result.at("help").as_string()} << "\n";
            } else if (result.is_string()) {
                std::cout << std::string_view{result.as_string()} << "\n";
            } else {
                PrettyPrint(std::cout, result);
                std::cout << "\n";
            }
            return 0;
        } catch (const boost::system::system_error& e) {
            if (wait && std::chrono::steady_clock::now() < deadline) {
                std::this_thread::sleep_for(std::chrono::milliseconds{250});
                continue;
            }
            std::cerr << "error: could not connect to vaultwatchd at " << host << ":" << *port << ": " << e.code().message()
                      << "\nMake sure vaultwatchd is running and -rpcport/-chain match its configuration.\n";
            return 1;
        }
    }
}
