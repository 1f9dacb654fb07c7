#pragma once
// JSON output the way bitcoind's UniValue writes it: compact, keys in insertion order, amounts as
// raw numbers with exactly 8 decimals (48.49996900), doubles with 16 significant digits
// (4.656542373906925e-10), and UniValue's string escaping.
//
// Boost.JSON holds the tree. Raw numeric text (amounts, doubles) has no Boost.JSON kind, so it is
// stored as a string starting with the marker byte 0x01 and written unquoted by WriteJson.

#include "primitives/amount.h"

#include <boost/json.hpp>

#include <cstdint>
#include <optional>
#include <string>

namespace vw::sim {

namespace json = boost::json;

//! A JSON number with the exact text of bitcoind's ValueFromAmount (e.g. 50.00000000).
json::value AmountValue(int64_t sats);
inline json::value AmountValue(Amount a) { return AmountValue(a.sats()); }
//! A JSON number formatted like UniValue::setFloat (16 significant digits).
json::value DoubleValue(double d);
//! A JSON string known to need no escaping (hex), stored pre-quoted so WriteJson copies it in one
//! piece instead of scanning it (getblock's megabytes of hex).
json::value HexValue(std::string_view hex);
//! Core's FormatMoney: 8 decimals with trailing zeros trimmed, at least one decimal ("0.0002").
std::string FormatMoney(int64_t sats);

//! Serializes like UniValue::write() (no whitespace).
std::string WriteJson(const json::value& v);

//! Core's AmountFromValue: number or numeric string, at most 8 decimals, in MoneyRange.
std::optional<int64_t> ParseAmount(const json::value& v);

//! JSON type name as in Core's "JSON value of type X" messages.
std::string JsonTypeName(const json::value& v);

} // namespace vw::sim
