#pragma once
#include "util/bytes.h"

#include <optional>
#include <string>
#include <string_view>

namespace vw {

//! Returns: lowercase hex of the bytes, in the given order.
std::string HexStr(ByteSpan bytes);

//! Returns: the bytes of an even-length hex string (either case), or nullopt on any other input.
std::optional<Bytes> ParseHex(std::string_view hex);

} // namespace vw
