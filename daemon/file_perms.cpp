#include "file_perms.h"

#include <sys/stat.h>
#include <unistd.h>

#include <cerrno>
#include <cstring>

namespace vw::daemon {
namespace {
std::string Mode(mode_t m) { return std::to_string((m >> 6) & 7) + std::to_string((m >> 3) & 7) + std::to_string(m & 7); }

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

} // namespace vw::daemon
