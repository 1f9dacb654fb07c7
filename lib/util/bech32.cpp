#include "util/bech32.h"

#include <array>

namespace vw::bech32 {
namespace {

constexpr std::string_view CHARSET = "qpzry9x8gf2tvdw0s3jn54khce6mua7l";
constexpr uint32_t BECH32_CONST = 1;
constexpr uint32_t BECH32M_CONST = 0x2bc830a3;

uint32_t PolyMod(const Bytes& values)
{
    constexpr std::array<uint32_t, 5> GEN{0x3b6a57b2, 0x26508e6d, 0x1ea119fa, 0x3d4233dd, 0x2a1462b3};
    uint32_t chk = 1;
    for (uint8_t v : values) {
        const uint32_t top = chk >> 25;
        chk = ((chk & 0x1ffffff) << 5) ^ v;
        for (size_t i = 0; i < 5; ++i) {
            if ((top >> i) & 1) chk ^= GEN[i];
        }
    }
    return chk;
}

Bytes HrpExpand(std::string_view hrp)
{
    Bytes r;
    r.reserve(hrp.size() * 2 + 1);
    for (char c : hrp) r.push_back(static_cast<uint8_t>(static_cast<uint8_t>(c) >> 5));
    r.push_back(0);
    for (char c : hrp) r.push_back(static_cast<uint8_t>(static_cast<uint8_t>(c) & 31));
    return r;
}

} // namespace

std::string_view ToString(Bech32Error e)
{
    switch (e) {
    case Bech32Error::BadHrp: return "invalid human-readable part";
    case Bech32Error::BadDataValue: return "data value out of 5-bit range";
    case Bech32Error::TooLong: return "encoding longer than 90 characters";
    case Bech32Error::BadWitnessVersion: return "witness version above 16";
    case Bech32Error::BadProgramSize: return "invalid witness program size";
    }
    return "unknown bech32 error";
}

Expected<std::string, Bech32Error> Encode(std::string_view hrp, ByteSpan data5, Encoding enc)
{
    if (hrp.empty() || hrp.size() > 83) return Unexpected{Bech32Error::BadHrp};
    for (char c : hrp) {
        if (c < 33 || c > 126 || (c >= 'A' && c <= 'Z')) return Unexpected{Bech32Error::BadHrp};
    }
    for (uint8_t v : data5) {
        if (v > 31) return Unexpected{Bech32Error::BadDataValue};
    }
    if (hrp.size() + 1 + data5.size() + 6 > 90) return Unexpected{Bech32Error::TooLong};
    Bytes values = HrpExpand(hrp);
    values.insert(values.end(), data5.begin(), data5.end());
    values.insert(values.end(), 6, 0);
    const uint32_t mod = PolyMod(values) ^ (enc == Encoding::Bech32 ? BECH32_CONST : BECH32M_CONST);
    std::string out(hrp);
    out.push_back('1');
    for (uint8_t v : data5) out.push_back(CHARSET[v]);
    for (size_t i = 0; i < 6; ++i) out.push_back(CHARSET[(mod >> (5 * (5 - i))) & 31]);
    return out;
}

Bytes ConvertBits8To5(ByteSpan bytes)
{
    Bytes out;
    out.reserve((bytes.size() * 8 + 4) / 5);
    uint32_t acc = 0;
    int bits = 0;
    for (uint8_t b : bytes) {
        acc = (acc << 8) | b;
        bits += 8;
        while (bits >= 5) {
            bits -= 5;
            out.push_back(static_cast<uint8_t>((acc >> bits) & 31));
        }
    }
    if (bits > 0) out.push_back(static_cast<uint8_t>((acc << (5 - bits)) & 31));
    return out;
}

Expected<std::string, Bech32Error> SegwitAddress(std::string_view hrp, int witness_version, ByteSpan program)
{
    if (witness_version < 0 || witness_version > 16) return Unexpected{Bech32Error::BadWitnessVersion};
    if (program.size() < 2 || program.size() > 40) return Unexpected{Bech32Error::BadProgramSize};
    if (witness_version == 0 && program.size() != 20 && program.size() != 32) {
        return Unexpected{Bech32Error::BadProgramSize};
    }
    Bytes data{static_cast<uint8_t>(witness_version)};
    const Bytes conv = ConvertBits8To5(program);
    data.insert(data.end(), conv.begin(), conv.end());
    return Encode(hrp, data, witness_version == 0 ? Encoding::Bech32 : Encoding::Bech32m);
}

} // namespace vw::bech32
