#pragma once
// The output-descriptor checksum of BIP-380: 8 characters after '#', a BCH code over the
// descriptor's characters that catches any error in up to 4 characters. vaultwatch's vault
// family text form carries it, so a mistyped or truncated family is refused, not watched wrong.

#include <optional>
#include <string>
#include <string_view>

namespace vw {

//! Returns: the 8-character checksum of s, or nullopt if s has a character outside the
//! descriptor character set.
std::optional<std::string> DescriptorChecksum(std::string_view s);

//! Returns: s + "#" + checksum, or nullopt as DescriptorChecksum.
std::optional<std::string> AddDescriptorChecksum(std::string_view s);

//! Returns: the descriptor without its checksum when "desc#checksum" carries the right one (or,
//! with require = false, none at all); nullopt otherwise.
std::optional<std::string_view> CheckDescriptorChecksum(std::string_view s, bool require = true);

} // namespace vw
