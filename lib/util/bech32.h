#pragma once
// Bech32 / Bech32m encoding (BIP-173, BIP-350) and segwit address encoding. Encoder only: the
// daemon prints addresses for operators but never accepts them as input for consensus data.

#include "util/bytes.h"
#include "util/expected.h"

#include <string>
#include <string_view>

namespace vw::bech32 {

enum class Encoding { Bech32, Bech32m };

enum class Bech32Error {
    BadHrp,            //!< empty, longer than 83 chars, a char outside 33..126, or uppercase
    BadDataValue,      //!< a 5-bit value > 31
    TooLong,           //!< the result would exceed 90 characters
    BadWitnessVersion, //!< witness version > 16
    BadProgramSize,    //!< program not 2..40 bytes, or v0 not 20/32 bytes
};
std::string_view ToString(Bech32Error e);

//! Returns: hrp || '1' || data || checksum, lowercase. In: hrp lowercase printable ASCII,
//! data 5-bit values. Fails (unchanged nothing) on the Bech32Error conditions.
Expected<std::string, Bech32Error> Encode(std::string_view hrp, ByteSpan data5, Encoding enc);

//! Returns: the 8-to-5 bit regrouping of bytes with zero padding (BIP-173 convertbits).
Bytes ConvertBits8To5(ByteSpan bytes);

//! Returns: the segwit address for (witness version, program): Bech32 for v0, Bech32m for v1+
//! (BIP-350). In: hrp such as "bc", "tb", "bcrt".
Expected<std::string, Bech32Error> SegwitAddress(std::string_view hrp, int witness_version, ByteSpan program);

} // namespace vw::bech32
