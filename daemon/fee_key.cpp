#include "fee_key.h"

#include "file_perms.h"

#include "util/hex.h"

#include <openssl/crypto.h>
#include <openssl/rand.h>

#include <cerrno>
#include <cstring>
#include <fcntl.h>
#include <sys/stat.h>
#include <unistd.h>

#include <array>

namespace vw::daemon {

namespace {

//! Wipes what it holds when it goes out of scope.
template <size_t N>
struct Secret {
    std::array<char, N> b{};
    ~Secret() { OPENSSL_cleanse(b.data(), b.size()); }
};

std::string Errno(const std::string& what, const std::filesystem::path& p) { return what + " " + p.string() + ": " + std::strerror(errno); }

Expected<void, std::string> Create(const std::filesystem::path& path)
{
    Secret<32> raw;
    for (;;) {
        if (RAND_bytes(reinterpret_cast<unsigned char*>(raw.b.data()), 32) != 1) return Unexpected{std::string("cannot draw random bytes for the fee wallet key (OpenSSL RAND_bytes)")};
        // Valid secp256k1 secrets are in [1, n-1]: virtually every draw; retry otherwise.
        if (vault::FeeWallet::FromSecret(ByteSpan{reinterpret_cast<const uint8_t*>(raw.b.data()), 32})) break;
    }
    Secret<65> text;
    static constexpr char kDigits[] = "0123456789abcdef";
    for (size_t i = 0; i < 32; ++i) {
        const auto v = static_cast<uint8_t>(raw.b[i]);
        text.b[2 * i] = kDigits[v >> 4];
        text.b[2 * i + 1] = kDigits[v & 0xf];
    }
    text.b[64] = '\n';
    const int fd = ::open(path.c_str(), O_WRONLY | O_CREAT | O_EXCL | O_CLOEXEC, 0600);
    if (fd < 0) return Unexpected{Errno("cannot create the fee wallet key file", path)};
    const bool ok = ::write(fd, text.b.data(), text.b.size()) == static_cast<ssize_t>(text.b.size()) && ::fsync(fd) == 0;
    const int saved = errno;
    ::close(fd);
    if (!ok) {
        ::unlink(path.c_str());
        errno = saved;
        return Unexpected{Errno("cannot write the fee wallet key file", path)};
    }
    // The directory entry too, so a crash right after cannot lose the key the wallet was funded to.
    if (const int dfd = ::open(path.parent_path().empty() ? "." : path.parent_path().c_str(), O_RDONLY | O_DIRECTORY | O_CLOEXEC); dfd >= 0) {
        ::fsync(dfd);
        ::close(dfd);
    }
    return {};
}

} // namespace

Expected<vault::FeeWallet, std::string> LoadOrCreateFeeWallet(const std::filesystem::path& path, bool* created)
{
    if (created) *created = false;
    struct stat st{};
    if (::stat(path.c_str(), &st) != 0) {
        if (errno != ENOENT) return Unexpected{Errno("cannot read the fee wallet key file", path)};
        if (auto c = Create(path); !c) return Unexpected{c.error()};
        if (created) *created = true;
        if (::stat(path.c_str(), &st) != 0) return Unexpected{Errno("cannot read the fee wallet key file", path)};
    }
    if (auto e = CheckPrivateFile(path, "fee wallet key file")) return Unexpected{*e};
    const int fd = ::open(path.c_str(), O_RDONLY | O_CLOEXEC);
    if (fd < 0) return Unexpected{Errno("cannot read the fee wallet key file", path)};
    Secret<128> text;
    const ssize_t n = ::read(fd, text.b.data(), text.b.size());
    ::close(fd);
    if (n < 0) return Unexpected{Errno("cannot read the fee wallet key file", path)};
    size_t len = static_cast<size_t>(n);
    while (len > 0 && (text.b[len - 1] == '\n' || text.b[len - 1] == '\r' || text.b[len - 1] == ' ')) --len;
    const std::string_view hex{text.b.data(), len};
    const auto bad = [&] { return Unexpected{"the fee wallet key file " + path.string() + " must hold exactly 64 hex characters (a 32-byte secret key)"}; };
    if (len != 64) return bad();
    auto bytes = ParseHex(hex);
    if (!bytes) return bad();
    auto w = vault::FeeWallet::FromSecret(*bytes);
    OPENSSL_cleanse(bytes->data(), bytes->size());
    if (!w) return Unexpected{"the fee wallet key in " + path.string() + " is not a valid secp256k1 secret key"};
    return std::move(*w);
}

} // namespace vw::daemon
