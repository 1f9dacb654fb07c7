#pragma once
// Base58 and Base58Check (Bitcoin's alphabet), for BIP-32 extended keys. Neither OpenSSL nor the
// other dependencies encode it.

#include "util/bytes.h"

#include <optional>
#include <string>
#include <string_view>

namespace vw {

std::string EncodeBase58(ByteSpan data);
//! Returns: the bytes, or nullopt for a character outside the alphabet (no whitespace allowed) or
//! an input longer than max_len characters.
std::optional<Bytes> DecodeBase58(std::string_view s, size_t max_len = 200);

//! data || SHA256d(data)[0:4], in Base58.
std::string EncodeBase58Check(ByteSpan data);
//! Returns: the payload, or nullopt when the encoding or the 4-byte checksum is wrong.
std::optional<Bytes> DecodeBase58Check(std::string_view s, size_t max_len = 200);

} // namespace vw
