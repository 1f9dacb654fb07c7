#include "file_perms.h"

#include <sys/stat.h>
#include <unistd.h>

#include <cerrno>
#include <climits>
#include <cstdlib>
#include <cstring>
#include <vector>

namespace vw::daemon {
namespace {
std::string Mode(mode_t m) { return (m & 07000 ? std::to_string((m >> 9) & 7) : std::string()) + std::to_string((m >> 6) & 7) + std::to_string((m >> 3) & 7) + std::to_string(m & 7); }

std::optional<std::string> Owner(const struct stat& st, const std::filesystem::path& p, const std::string& what)
{
    if (st.st_uid == ::geteuid()) return std::nullopt;
    return "the " + what + " " + p.string() + " belongs to uid " + std::to_string(st.st_uid) + ", not to uid " +
           std::to_string(::geteuid()) + " that vaultwatchd runs as; run: chown " + std::to_string(::geteuid()) + " " + p.string();
}
} // namespace

std::optional<std::string> CheckPrivateDir(const std::filesystem::path& dir, const std::string& what)
{
    struct stat st{};
    if (::stat(dir.c_str(), &st) != 0) return "cannot inspect the " + what + " " + dir.string() + ": " + std::strerror(errno);
    if (!S_ISDIR(st.st_mode)) return "the " + what + " " + dir.string() + " is not a directory";
    if (auto e = Owner(st, dir, what)) return e;
    // Others only: a group-writable directory is what a umask of 002 makes (user private groups),
    // and the files inside are checked one by one.
    if (st.st_mode & S_IWOTH) {
        return "the " + what + " " + dir.string() + " can be written by others (mode " + Mode(st.st_mode) +
               "), who could replace the vault registry or plant a cookie; run: chmod 700 " + dir.string();
    }
    return std::nullopt;
}

std::optional<std::string> CheckPrivateFile(const std::filesystem::path& file, const std::string& what)
{
    struct stat st{};
    if (::stat(file.c_str(), &st) != 0) {
        if (errno == ENOENT) return std::nullopt;
        return "cannot inspect the " + what + " " + file.string() + ": " + std::strerror(errno);
    }
    if (!S_ISREG(st.st_mode)) return "the " + what + " " + file.string() + " is not a regular file";
    if (auto e = Owner(st, file, what)) return e;
    if (st.st_mode & 077) {
        return "the " + what + " " + file.string() + " is readable by others or writable by them (mode " + Mode(st.st_mode) + "); run: chmod 600 " + file.string();
    }
    return std::nullopt;
}

std::optional<std::string> CheckNodeOnlySocket(std::string_view endpoint)
{
    constexpr std::string_view kIpc{"ipc://"};
    if (!endpoint.starts_with(kIpc)) return "a TCP port, which any local process can bind before bitcoind does";
    const std::filesystem::path sock{std::string(endpoint.substr(kIpc.size()))};
    if (!sock.is_absolute()) return "a relative socket path";
    struct stat st{};
    if (::lstat(sock.c_str(), &st) != 0) return "cannot inspect " + sock.string() + ": " + std::strerror(errno);
    if (!S_ISSOCK(st.st_mode)) return sock.string() + " is not a socket";
    const uid_t sock_uid = st.st_uid;
    const std::filesystem::path parent = sock.parent_path();
    // Every directory on the way, as written and as resolved (a symlink such as /var/run is
    // covered by the checks of the directory it sits in, its target by the resolved chain).
    std::vector<std::filesystem::path> chain;
    for (std::filesystem::path d = parent;; d = d.parent_path()) {
        chain.push_back(d);
        if (d == d.root_path()) break;
    }
    char buf[PATH_MAX];
    if (!::realpath(parent.c_str(), buf)) return "cannot resolve " + parent.string() + ": " + std::strerror(errno);
    const std::filesystem::path resolved{buf};
    for (std::filesystem::path d = resolved;; d = d.parent_path()) {
        if (d != parent) chain.push_back(d);
        if (d == d.root_path()) break;
    }
    struct stat pst{};
    if (::stat(resolved.c_str(), &pst) != 0) return "cannot inspect " + resolved.string() + ": " + std::strerror(errno);
    const uid_t owner = pst.st_uid;
    if (owner != 0 && owner != sock_uid && owner != ::geteuid()) {
        return "its directory " + resolved.string() + " belongs to uid " + std::to_string(owner) + ", and the socket to uid " + std::to_string(sock_uid);
    }
    for (const auto& d : chain) {
        struct stat dst{};
        if (::lstat(d.c_str(), &dst) != 0) return "cannot inspect " + d.string() + ": " + std::strerror(errno);
        if (dst.st_uid != 0 && dst.st_uid != owner && dst.st_uid != ::geteuid()) {
            return d.string() + " belongs to uid " + std::to_string(dst.st_uid) + ", who could move the socket's directory";
        }
        if (S_ISLNK(dst.st_mode)) continue; // its target is on the resolved chain
        if (!S_ISDIR(dst.st_mode)) return d.string() + " is not a directory";
        const bool own = d == parent || d == resolved;
        // The socket's own directory: nobody else may create a name there (a sticky bit does
        // not stop that). Above it: nobody else may rename what leads to it.
        if ((dst.st_mode & (S_IWGRP | S_IWOTH)) && (own || !(dst.st_mode & S_ISVTX))) {
            return "the directory " + d.string() + " can be written by " + (dst.st_mode & S_IWOTH ? "others" : "its group") + " (mode " +
                   Mode(dst.st_mode) + ")" + (own ? ", who could bind the socket before bitcoind does" : ", who could move the socket's directory");
        }
    }
    return std::nullopt;
}

} // namespace vw::daemon
