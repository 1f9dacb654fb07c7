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
    EXPECT_NE(semantic.error().find("vaultwatch.conf:2: pollseconds must be at least 1"), std::string::npos) << semantic.error();
    // The same value given as a flag names no line (the flag wins over the file).
    auto flag = Parse({"--datadir=" + dir.string(), "--pollseconds=0"});
    ASSERT_FALSE(flag);
    EXPECT_EQ(flag.error(), "pollseconds must be at least 1");
    std::filesystem::remove_all(dir);
}

} // namespace
} // namespace vw::daemon
