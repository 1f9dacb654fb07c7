#pragma once
// HMAC-SHA256 and HMAC-SHA512 (RFC 2104 / RFC 4231) through OpenSSL.

#include "util/bytes.h"

#include <array>
#include <string_view>

namespace vw::crypto {

//! Returns: HMAC-SHA256(key, msg). Keys of any length (longer than the 64-byte block are hashed
//! first, as the RFC says); empty key and message allowed.
std::array<uint8_t, 32> HmacSha256(ByteSpan key, ByteSpan msg);

//! Returns: HMAC-SHA256 over the bytes of two strings (e.g. bitcoind rpcauth: key = salt,
//! msg = password).
std::array<uint8_t, 32> HmacSha256(std::string_view key, std::string_view msg);

//! Returns: PBKDF2-HMAC-SHA256(password, salt, iterations), 32 bytes (RFC 8018).
std::array<uint8_t, 32> Pbkdf2HmacSha256(std::string_view password, std::string_view salt, uint32_t iterations);

//! Returns: HMAC-SHA512(key, msg) (BIP-32 child key derivation).
std::array<uint8_t, 64> HmacSha512(ByteSpan key, ByteSpan msg);

} // namespace vw::crypto
