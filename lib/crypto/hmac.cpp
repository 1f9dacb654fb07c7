#include "crypto/hmac.h"

#include "util/check.h"

#include <openssl/evp.h>
#include <openssl/hmac.h>

namespace vw::crypto {

std::array<uint8_t, 32> HmacSha256(ByteSpan key, ByteSpan msg)
{
    // An empty span may carry a null pointer; OpenSSL wants a valid key pointer even for length 0.
    static constexpr uint8_t EMPTY = 0;
    const uint8_t* const key_ptr = key.empty() ? &EMPTY : key.data();
    const uint8_t* const msg_ptr = msg.empty() ? &EMPTY : msg.data();
    std::array<uint8_t, 32> out{};
    unsigned int len = 0;
    VW_ASSERT(key.size() <= 0x7fffffff);
    VW_ASSERT(HMAC(EVP_sha256(), key_ptr, static_cast<int>(key.size()), msg_ptr, msg.size(), out.data(), &len) != nullptr &&
              len == out.size());
    return out;
}

std::array<uint8_t, 32> Pbkdf2HmacSha256(std::string_view password, std::string_view salt, uint32_t iterations)
{
    std::array<uint8_t, 32> out{};
    VW_ASSERT(password.size() <= 0x7fffffff && salt.size() <= 0x7fffffff && iterations >= 1 && iterations <= 0x7fffffff);
    VW_ASSERT(PKCS5_PBKDF2_HMAC(password.data(), static_cast<int>(password.size()), reinterpret_cast<const unsigned char*>(salt.data()),
                                static_cast<int>(salt.size()), static_cast<int>(iterations), EVP_sha256(), static_cast<int>(out.size()), out.data()) == 1);
    return out;
}

std::array<uint8_t, 64> HmacSha512(ByteSpan key, ByteSpan msg)
{
    static constexpr uint8_t EMPTY = 0;
    const uint8_t* const key_ptr = key.empty() ? &EMPTY : key.data();
    const uint8_t* const msg_ptr = msg.empty() ? &EMPTY : msg.data();
    std::array<uint8_t, 64> out{};
    unsigned int len = 0;
    VW_ASSERT(key.size() <= 0x7fffffff);
    VW_ASSERT(HMAC(EVP_sha512(), key_ptr, static_cast<int>(key.size()), msg_ptr, msg.size(), out.data(), &len) != nullptr &&
              len == out.size());
    return out;
}

std::array<uint8_t, 32> HmacSha256(std::string_view key, std::string_view msg)
{
    return HmacSha256(ByteSpan{reinterpret_cast<const uint8_t*>(key.data()), key.size()},
                      ByteSpan{reinterpret_cast<const uint8_t*>(msg.data()), msg.size()});
}

} // namespace vw::crypto
