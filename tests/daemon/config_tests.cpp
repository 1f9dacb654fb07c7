#include "config.h"

#include <gtest/gtest.h>

#include <filesystem>
#include <fstream>
#include <random>
#include <sstream>

namespace vw::daemon {
namespace {

std::string ReadFile(const std::filesystem::path& p)
{
    std::ifstream f(p);
    std::stringstream ss;
    ss << f.rdbuf();
    return ss.str();
}

Expected<std::optional<Config>, std::string> Parse(std::vector<std::string> args)
{
    args.insert(args.begin(), "vaultwatchd");
    std::vector<const char*> argv;
    for (const auto& a : args) argv.push_back(a.c_str());
    return ParseConfig(static_cast<int>(argv.size()), argv.data());
}

TEST(config_tests, ExampleDocumentsEveryOption)
{
    const std::string example = ReadFile(std::filesystem::path(VW_SOURCE_DIR) / "config/vaultwatch.conf.example");
    ASSERT_FALSE(example.empty());
    for (const auto& name : OptionNames()) {
        // [bitcoind] keys appear without their section prefix, under the [bitcoind] header.
        const auto dot = name.find('.');
        const std::string key = dot == std::string::npos ? name : name.substr(dot + 1);
        EXPECT_NE(example.find("#" + key + "="), std::string::npos) << "option '" << name << "' missing from config/vaultwatch.conf.example";
        if (dot != std::string::npos) EXPECT_NE(example.find("[" + name.substr(0, dot) + "]"), std::string::npos);
    }
}

TEST(config_tests, FileSectionsFlagsAndDefaults)
{
    const auto dir = std::filesystem::temp_directory_path() / ("vw-cfg-" + std::to_string(std::random_device{}()));
    std::filesystem::create_directories(dir);
    {
        std::ofstream f(dir / "vaultwatch.conf");
        f << "chain=regtest\nloglevel=debug\n[bitcoind]\nrpcuser=u\nrpcpassword=p\nzmqrawtx=tcp://127.0.0.1:1\n";
    }
    auto c = Parse({"--datadir=" + dir.string(), "--loglevel=warn"});
    ASSERT_TRUE(c) << c.error();
    ASSERT_TRUE(c->has_value());
    const Config& cfg = **c;
    EXPECT_EQ(cfg.chain, "regtest");
    EXPECT_EQ(cfg.loglevel, "warn"); // the flag wins over the file
    EXPECT_EQ(cfg.bitcoind.rpcuser, "u");
    EXPECT_EQ(cfg.bitcoind.zmqrawtx, "tcp://127.0.0.1:1");
    EXPECT_EQ(cfg.bitcoind.rpcport, 18443);
    EXPECT_EQ(cfg.NetDir(), dir / "regtest");
    std::filesystem::remove_all(dir);
}

TEST(config_tests, ClearErrors)
{
    auto bad_chain = Parse({"--chain=mainnet", "--bitcoind.rpcuser=u"});
    ASSERT_FALSE(bad_chain);
    EXPECT_NE(bad_chain.error().find("mainnet"), std::string::npos);
    auto unknown = Parse({"--nosuchoption=1"});
    ASSERT_FALSE(unknown);
    EXPECT_NE(unknown.error().find("nosuchoption"), std::string::npos);
    auto no_creds = Parse({"--chain=regtest", "--datadir=/nonexistent-vw"});
    ASSERT_FALSE(no_creds);
    EXPECT_NE(no_creds.error().find("credentials"), std::string::npos);
    auto bad_value = Parse({"--rpcport=notaport", "--bitcoind.rpcuser=u"});
    ASSERT_FALSE(bad_value);
    EXPECT_NE(bad_value.error().find("rpcport"), std::string::npos);

    const auto dir = std::filesystem::temp_directory_path() / ("vw-cfg-" + std::to_string(std::random_device{}()));
    std::filesystem::create_directories(dir);
    {
        std::ofstream f(dir / "vaultwatch.conf");
        f << "chain=regtest\nbogus=1\n";
    }
    auto in_file = Parse({"--datadir=" + dir.string()});
    ASSERT_FALSE(in_file);
    EXPECT_NE(in_file.error().find("vaultwatch.conf"), std::string::npos) << in_file.error();
    EXPECT_NE(in_file.error().find("bogus"), std::string::npos) << in_file.error();
    EXPECT_NE(in_file.error().find("vaultwatch.conf:2:"), std::string::npos) << "names the line: " << in_file.error();
    // A bad value in a [section], and a semantic error, both name file and line.
    {
        std::ofstream f(dir / "vaultwatch.conf");
        f << "# comment\nchain=regtest\n\n[bitcoind]\nrpcuser=u\nrpcport=notaport\n";
    }
    auto in_section = Parse({"--datadir=" + dir.string()});
    ASSERT_FALSE(in_section);
    EXPECT_NE(in_section.error().find("vaultwatch.conf:6:"), std::string::npos) << in_section.error();
    EXPECT_NE(in_section.error().find("rpcport"), std::string::npos) << in_section.error();
    {
        std::ofstream f(dir / "vaultwatch.conf");
        f << "chain=regtest\npollseconds=0\n[bitcoind]\nrpcuser=u\n";
    }
    auto semantic = Parse({"--datadir=" + dir.string()});
    ASSERT_FALSE(semantic);
    EXPECT_NE(semantic.error().find("vaultwatch.conf:2: pollseconds must be between 1 and 3600"), std::string::npos) << semantic.error();
    // The same value given as a flag names no line (the flag wins over the file).
    auto flag = Parse({"--datadir=" + dir.string(), "--pollseconds=0"});
    ASSERT_FALSE(flag);
    EXPECT_EQ(flag.error(), "pollseconds must be between 1 and 3600");
    std::filesystem::remove_all(dir);
}

TEST(config_tests, RefusesEveryBadValueNamingTheOption)
{
    const std::string creds = "--bitcoind.rpcuser=u";
    const std::string pass = "--bitcoind.rpcpassword=p";
    // {arguments, text the error must contain}: each names the option, none is silently accepted.
    const std::vector<std::pair<std::vector<std::string>, std::string>> cases{
        {{"--loglevel=inf"}, "loglevel"}, // spdlog reads an unknown word as "off": a silent daemon
        {{"--loglevel=verbose"}, "'verbose' is not a level"},
        {{"--loglevel=info,chian=debug"}, "'chian' is not a component"},
        {{"--loglevel=chain=loud"}, "loglevel"},
        {{"--loglevel="}, "loglevel"},
        {{"--pollseconds=-1"}, "pollseconds cannot be negative"},
        {{"--pollseconds=0"}, "pollseconds must be between 1 and 3600"},
        {{"--pollseconds=100000"}, "pollseconds must be between 1 and 3600"},
        {{"--bitcoind.rpctimeout=0"}, "bitcoind.rpctimeout must be between 1 and 3600"},
        {{"--bitcoind.rpctimeout=-5"}, "bitcoind.rpctimeout cannot be negative"},
        {{"--rpcport=70000"}, "rpcport"},
        {{"--rpcport=-1"}, "rpcport cannot be negative"},
        {{"--bitcoind.rpcport=65536"}, "bitcoind.rpcport"},
        {{"--bitcoind.rpcport=-8332"}, "bitcoind.rpcport cannot be negative"},
        {{"--startheight=-2"}, "startheight"},
        {{"--webhooktimeout=0"}, "webhooktimeout"},
        {{"--webhooktimeout=-1"}, "webhooktimeout cannot be negative"},
        {{"--webhookretryhours=100000"}, "webhookretryhours"},
        {{"--webhookmaxbackoff=0"}, "webhookmaxbackoff"},
        {{"--maxfeepercent=-10"}, "maxfeepercent cannot be negative"},
        {{"--feeescalatepercent=5000"}, "feeescalatepercent"},
        {{"--feewalletcoins=-1"}, "feewalletcoins"},
        {{"--fallbackfeerate=0"}, "fallbackfeerate"},
        {{"--metricsbind=127.0.0.1:18545", "--chain=regtest"}, "metricsbind"}, // the control port itself
        {{"--bitcoind.rpccookiefile=/var/lib/bitcoind/.cookie"}, "bitcoind.rpccookiefile and bitcoind.rpcuser are both set"},
        {{"--bitcoind.rpccookiefile=~/.bitcoin/.cookie"}, "bitcoind.rpccookiefile=~/.bitcoin/.cookie is not an absolute path"},
    };
    for (const auto& [args, want] : cases) {
        std::vector<std::string> a = args;
        a.push_back(creds);
        a.push_back(pass);
        a.push_back("--datadir=/nonexistent-vw");
        auto r = Parse(a);
        ASSERT_FALSE(r) << args[0] << " was accepted";
        EXPECT_NE(r.error().find(want), std::string::npos) << args[0] << ": " << r.error();
    }
    // Contradictions between options.
    auto no_password = Parse({"--chain=regtest", "--datadir=/nonexistent-vw", creds});
    ASSERT_FALSE(no_password);
    EXPECT_NE(no_password.error().find("bitcoind.rpcuser and bitcoind.rpcpassword go together"), std::string::npos) << no_password.error();
    auto no_user = Parse({"--chain=regtest", "--datadir=/nonexistent-vw", "--bitcoind.rpccookiefile=/c", pass});
    ASSERT_FALSE(no_user);
    EXPECT_NE(no_user.error().find("bitcoind.rpcpassword"), std::string::npos) << no_user.error();
    auto mainnet_test_flag = Parse({"--chain=main", "--datadir=/nonexistent-vw", creds, pass, "--allowunenforcedopvault"});
    ASSERT_FALSE(mainnet_test_flag);
    EXPECT_NE(mainnet_test_flag.error().find("allowunenforcedopvault"), std::string::npos);

    // The same values in the file are refused with file:line, a negative one too.
    const auto dir = std::filesystem::temp_directory_path() / ("vw-cfg-" + std::to_string(std::random_device{}()));
    std::filesystem::create_directories(dir);
    for (const auto& [line, want] : std::vector<std::pair<std::string, std::string>>{{"loglevel=inf", "vaultwatch.conf:3: loglevel=inf"},
                                                                                     {"pollseconds=-1", "vaultwatch.conf:3: pollseconds cannot be negative"},
                                                                                     {"[bitcoind]\nrpctimeout=0", "vaultwatch.conf:4: bitcoind.rpctimeout"}}) {
        std::ofstream(dir / "vaultwatch.conf", std::ios::trunc) << "chain=regtest\n# creds on the command line\n" << line << "\n";
        auto r = Parse({"--datadir=" + dir.string(), creds, pass});
        ASSERT_FALSE(r) << line;
        EXPECT_NE(r.error().find(want), std::string::npos) << r.error();
    }
    std::filesystem::remove_all(dir);

    // And what is right still parses.
    auto good = Parse({"--chain=regtest", "--datadir=/nonexistent-vw", creds, pass, "--loglevel=warn,chain=debug,zmq=trace", "--pollseconds=3600",
                       "--bitcoind.rpctimeout=1", "--rpcport=65535", "--startheight=-1"});
    ASSERT_TRUE(good) << good.error();
}

} // namespace
} // namespace vw::daemon
