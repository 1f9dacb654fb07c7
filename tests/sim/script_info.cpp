#include "script_info.h"

#include "util/descriptor_checksum.h"

#include "crypto/sha256.h"
#include "util/hex.h"

#include <array>
#include <cstring>

namespace vw::sim {

namespace {

const char* OpName(uint8_t op)
{
    switch (op) {
    case 0x00: return "0";
    case 0x4f: return "-1";
    case 0x50: return "OP_RESERVED";
    case 0x61: return "OP_NOP";
    case 0x62: return "OP_VER";
    case 0x63: return "OP_IF";
    case 0x64: return "OP_NOTIF";
    case 0x65: return "OP_VERIF";
    case 0x66: return "OP_VERNOTIF";
    case 0x67: return "OP_ELSE";
    case 0x68: return "OP_ENDIF";
    case 0x69: return "OP_VERIFY";
    case 0x6a: return "OP_RETURN";
    case 0x6b: return "OP_TOALTSTACK";
    case 0x6c: return "OP_FROMALTSTACK";
    case 0x6d: return "OP_2DROP";
    case 0x6e: return "OP_2DUP";
    case 0x6f: return "OP_3DUP";
    case 0x70: return "OP_2OVER";
    case 0x71: return "OP_2ROT";
    case 0x72: return "OP_2SWAP";
    case 0x73: return "OP_IFDUP";
    case 0x74: return "OP_DEPTH";
    case 0x75: return "OP_DROP";
    case 0x76: return "OP_DUP";
    case 0x77: return "OP_NIP";
    case 0x78: return "OP_OVER";
    case 0x79: return "OP_PICK";
    case 0x7a: return "OP_ROLL";
    case 0x7b: return "OP_ROT";
    case 0x7c: return "OP_SWAP";
    case 0x7d: return "OP_TUCK";
    case 0x7e: return "OP_CAT";
    case 0x7f: return "OP_SUBSTR";
    case 0x80: return "OP_LEFT";
    case 0x81: return "OP_RIGHT";
    case 0x82: return "OP_SIZE";
    case 0x83: return "OP_INVERT";
    case 0x84: return "OP_AND";
    case 0x85: return "OP_OR";
    case 0x86: return "OP_XOR";
    case 0x87: return "OP_EQUAL";
    case 0x88: return "OP_EQUALVERIFY";
    case 0x89: return "OP_RESERVED1";
    case 0x8a: return "OP_RESERVED2";
    case 0x8b: return "OP_1ADD";
    case 0x8c: return "OP_1SUB";
    case 0x8d: return "OP_2MUL";
    case 0x8e: return "OP_2DIV";
    case 0x8f: return "OP_NEGATE";
    case 0x90: return "OP_ABS";
    case 0x91: return "OP_NOT";
    case 0x92: return "OP_0NOTEQUAL";
    case 0x93: return "OP_ADD";
    case 0x94: return "OP_SUB";
    case 0x95: return "OP_MUL";
    case 0x96: return "OP_DIV";
    case 0x97: return "OP_MOD";
    case 0x98: return "OP_LSHIFT";
    case 0x99: return "OP_RSHIFT";
    case 0x9a: return "OP_BOOLAND";
    case 0x9b: return "OP_BOOLOR";
    case 0x9c: return "OP_NUMEQUAL";
    case 0x9d: return "OP_NUMEQUALVERIFY";
    case 0x9e: return "OP_NUMNOTEQUAL";
    case 0x9f: return "OP_LESSTHAN";
    case 0xa0: return "OP_GREATERTHAN";
    case 0xa1: return "OP_LESSTHANOREQUAL";
    case 0xa2: return "OP_GREATERTHANOREQUAL";
    case 0xa3: return "OP_MIN";
    case 0xa4: return "OP_MAX";
    case 0xa5: return "OP_WITHIN";
    case 0xa6: return "OP_RIPEMD160";
    case 0xa7: return "OP_SHA1";
    case 0xa8: return "OP_SHA256";
    case 0xa9: return "OP_HASH160";
    case 0xaa: return "OP_HASH256";
    case 0xab: return "OP_CODESEPARATOR";
    case 0xac: return "OP_CHECKSIG";
    case 0xad: return "OP_CHECKSIGVERIFY";
    case 0xae: return "OP_CHECKMULTISIG";
    case 0xaf: return "OP_CHECKMULTISIGVERIFY";
    case 0xb0: return "OP_NOP1";
    case 0xb1: return "OP_CHECKLOCKTIMEVERIFY";
    case 0xb2: return "OP_CHECKSEQUENCEVERIFY";
    case 0xb3: return "OP_NOP4";
    case 0xb4: return "OP_NOP5";
    case 0xb5: return "OP_NOP6";
    case 0xb6: return "OP_NOP7";
    case 0xb7: return "OP_NOP8";
    case 0xb8: return "OP_NOP9";
    case 0xb9: return "OP_NOP10";
    case 0xba: return "OP_CHECKSIGADD";
    case 0xff: return "OP_INVALIDOPCODE";
    default: return nullptr;
    }
}

//! BIP66 strict DER check (Core's IsValidSignatureEncoding), including the hashtype byte.
bool IsValidSignatureEncoding(ByteSpan sig)
{
    if (sig.size() < 9 || sig.size() > 73) return false;
    if (sig[0] != 0x30 || sig[1] != sig.size() - 3) return false;
    const size_t len_r = sig[3];
    if (5 + len_r >= sig.size()) return false;
    const size_t len_s = sig[5 + len_r];
    if (len_r + len_s + 7 != sig.size()) return false;
    if (sig[2] != 0x02 || len_r == 0 || (sig[4] & 0x80)) return false;
    if (len_r > 1 && sig[4] == 0x00 && !(sig[5] & 0x80)) return false;
    if (sig[len_r + 4] != 0x02 || len_s == 0 || (sig[len_r + 6] & 0x80)) return false;
    if (len_s > 1 && sig[len_r + 6] == 0x00 && !(sig[len_r + 7] & 0x80)) return false;
    return true;
}

const char* SighashName(uint8_t t)
{
    switch (t) {
    case 0x01: return "ALL";
    case 0x02: return "NONE";
    case 0x03: return "SINGLE";
    case 0x81: return "ALL|ANYONECANPAY";
    case 0x82: return "NONE|ANYONECANPAY";
    case 0x83: return "SINGLE|ANYONECANPAY";
    default: return nullptr;
    }
}

std::string ScriptNumString(ByteSpan v)
{
    if (v.empty()) return "0";
    int64_t r = 0;
    for (size_t i = 0; i < v.size(); ++i) r |= static_cast<int64_t>(v[i]) << (8 * i);
    if (v.back() & 0x80) {
        r &= ~(int64_t{0x80} << (8 * (v.size() - 1)));
        r = -r;
    }
    return std::to_string(r);
}

// ---- bech32 ------------------------------------------------------------------------------------
constexpr const char* BECH32_CHARSET = "qpzry9x8gf2tvdw0s3jn54khce6mua7l";

uint32_t Bech32Polymod(const std::vector<uint8_t>& v)
{
    uint32_t c = 1;
    for (uint8_t d : v) {
        uint8_t c0 = static_cast<uint8_t>(c >> 25);
        c = ((c & 0x1ffffff) << 5) ^ d;
        if (c0 & 1) c ^= 0x3b6a57b2;
        if (c0 & 2) c ^= 0x26508e6d;
        if (c0 & 4) c ^= 0x1ea119fa;
        if (c0 & 8) c ^= 0x3d4233dd;
        if (c0 & 16) c ^= 0x2a1462b3;
    }
    return c;
}

std::vector<uint8_t> HrpExpand(const std::string& hrp)
{
    std::vector<uint8_t> r;
    for (char c : hrp) r.push_back(static_cast<uint8_t>(static_cast<uint8_t>(c) >> 5));
    r.push_back(0);
    for (char c : hrp) r.push_back(static_cast<uint8_t>(c & 31));
    return r;
}

bool ConvertBits(std::vector<uint8_t>& out, ByteSpan in, int from, int to, bool pad)
{
    uint32_t acc = 0;
    int bits = 0;
    const uint32_t maxv = (1u << to) - 1;
    for (uint8_t v : in) {
        if (v >> from) return false;
        acc = (acc << from) | v;
        bits += from;
        while (bits >= to) {
            bits -= to;
            out.push_back(static_cast<uint8_t>((acc >> bits) & maxv));
        }
    }
    if (pad) {
        if (bits) out.push_back(static_cast<uint8_t>((acc << (to - bits)) & maxv));
    } else if (bits >= from || ((acc << (to - bits)) & maxv)) {
        return false;
    }
    return true;
}

// ---- base58 ------------------------------------------------------------------------------------
constexpr const char* B58 = "123456789ABCDEFGHJKLMNPQRSTUVWXYZabcdefghijkmnopqrstuvwxyz";

std::string EncodeBase58Check(Bytes data)
{
    auto h = crypto::Sha256d(data);
    data.insert(data.end(), h.bytes.begin(), h.bytes.begin() + 4);
    size_t zeros = 0;
    while (zeros < data.size() && data[zeros] == 0) ++zeros;
    std::vector<uint8_t> b58((data.size() - zeros) * 138 / 100 + 1, 0);
    for (size_t i = zeros; i < data.size(); ++i) {
        int carry = data[i];
        for (auto it = b58.rbegin(); it != b58.rend(); ++it) {
            carry += 256 * (*it);
            *it = static_cast<uint8_t>(carry % 58);
            carry /= 58;
        }
    }
    auto it = b58.begin();
    while (it != b58.end() && *it == 0) ++it;
    std::string s(zeros, '1');
    for (; it != b58.end(); ++it) s += B58[*it];
    return s;
}

std::optional<Bytes> DecodeBase58Check(const std::string& s)
{
    size_t zeros = 0;
    while (zeros < s.size() && s[zeros] == '1') ++zeros;
    std::vector<uint8_t> b256(s.size() * 733 / 1000 + 1, 0);
    for (size_t i = zeros; i < s.size(); ++i) {
        const char* p = std::strchr(B58, s[i]);
        if (!p || !*p) return std::nullopt;
        int carry = static_cast<int>(p - B58);
        for (auto it = b256.rbegin(); it != b256.rend(); ++it) {
            carry += 58 * (*it);
            *it = static_cast<uint8_t>(carry % 256);
            carry /= 256;
        }
        if (carry) return std::nullopt;
    }
    auto it = b256.begin();
    while (it != b256.end() && *it == 0) ++it;
    Bytes out(zeros, 0);
    out.insert(out.end(), it, b256.end());
    if (out.size() < 4) return std::nullopt;
    Bytes payload(out.begin(), out.end() - 4);
    auto h = crypto::Sha256d(payload);
    if (!std::equal(out.end() - 4, out.end(), h.bytes.begin())) return std::nullopt;
    return payload;
}

bool IsWitnessProgram(ByteSpan spk, int& version, ByteSpan& program)
{
    if (spk.size() < 4 || spk.size() > 42) return false;
    if (spk[0] != 0x00 && (spk[0] < 0x51 || spk[0] > 0x60)) return false;
    if (static_cast<size_t>(spk[1]) + 2 != spk.size()) return false;
    version = spk[0] == 0 ? 0 : spk[0] - 0x50;
    program = spk.subspan(2);
    return true;
}

bool IsPushOnly(ByteSpan s)
{
    size_t i = 0;
    while (i < s.size()) {
        uint8_t op = s[i++];
        if (op > 0x60) return false;
        size_t n = 0;
        if (op < 0x4c) n = op;
        else if (op == 0x4c) { if (i + 1 > s.size()) return false; n = s[i]; i += 1; }
        else if (op == 0x4d) { if (i + 2 > s.size()) return false; n = s[i] | (size_t{s[i + 1]} << 8); i += 2; }
        else if (op == 0x4e) { if (i + 4 > s.size()) return false; n = s[i] | (size_t{s[i + 1]} << 8) | (size_t{s[i + 2]} << 16) | (size_t{s[i + 3]} << 24); i += 4; }
        if (i + n > s.size()) return false;
        i += n;
    }
    return true;
}

} // namespace

std::string ScriptToAsm(ByteSpan s, bool attempt_sighash_decode)
{
    std::string out;
    size_t i = 0;
    while (i < s.size()) {
        if (!out.empty()) out += ' ';
        uint8_t op = s[i++];
        if (op >= 0x01 && op <= 0x4e) {
            size_t n = 0;
            bool bad = false;
            if (op < 0x4c) n = op;
            else if (op == 0x4c) { if (i + 1 > s.size()) bad = true; else { n = s[i]; i += 1; } }
            else if (op == 0x4d) { if (i + 2 > s.size()) bad = true; else { n = s[i] | (size_t{s[i + 1]} << 8); i += 2; } }
            else { if (i + 4 > s.size()) bad = true; else { n = s[i] | (size_t{s[i + 1]} << 8) | (size_t{s[i + 2]} << 16) | (size_t{s[i + 3]} << 24); i += 4; } }
            if (bad || i + n > s.size()) {
                out += "[error]";
                return out;
            }
            ByteSpan data = s.subspan(i, n);
            i += n;
            if (data.size() <= 4) {
                out += ScriptNumString(data);
            } else if (attempt_sighash_decode && IsValidSignatureEncoding(data) && SighashName(data.back())) {
                out += HexStr(data.first(data.size() - 1));
                out += '[';
                out += SighashName(data.back());
                out += ']';
            } else {
                out += HexStr(data);
            }
            continue;
        }
        if (op >= 0x51 && op <= 0x60) {
            out += std::to_string(op - 0x50);
            continue;
        }
        const char* name = OpName(op);
        out += name ? name : "OP_UNKNOWN";
    }
    return out;
}

std::string ScriptType(ByteSpan spk)
{
    int ver;
    ByteSpan prog;
    if (spk.size() == 4 && spk[0] == 0x51 && spk[1] == 0x02 && spk[2] == 0x4e && spk[3] == 0x73) return "anchor";
    if (IsWitnessProgram(spk, ver, prog)) {
        if (ver == 0 && prog.size() == 20) return "witness_v0_keyhash";
        if (ver == 0 && prog.size() == 32) return "witness_v0_scripthash";
        if (ver == 1 && prog.size() == 32) return "witness_v1_taproot";
        if (ver != 0) return "witness_unknown";
        return "nonstandard";
    }
    if (spk.size() == 23 && spk[0] == 0xa9 && spk[1] == 0x14 && spk[22] == 0x87) return "scripthash";
    if (spk.size() == 25 && spk[0] == 0x76 && spk[1] == 0xa9 && spk[2] == 0x14 && spk[23] == 0x88 && spk[24] == 0xac) return "pubkeyhash";
    if ((spk.size() == 35 && spk[0] == 33 && spk[34] == 0xac) || (spk.size() == 67 && spk[0] == 65 && spk[66] == 0xac)) return "pubkey";
    if (!spk.empty() && spk[0] == 0x6a && IsPushOnly(spk.subspan(1))) return "nulldata";
    if (spk.size() >= 37 && spk.back() == 0xae && spk[0] >= 0x51 && spk[0] <= 0x60) return "multisig";
    return "nonstandard";
}

std::string EncodeSegwitAddress(int version, ByteSpan program)
{
    const std::string hrp = "bcrt";
    std::vector<uint8_t> data{static_cast<uint8_t>(version)};
    ConvertBits(data, program, 8, 5, true);
    std::vector<uint8_t> v = HrpExpand(hrp);
    v.insert(v.end(), data.begin(), data.end());
    v.insert(v.end(), 6, 0);
    const uint32_t konst = version == 0 ? 1 : 0x2bc830a3;
    const uint32_t mod = Bech32Polymod(v) ^ konst;
    std::string out = hrp + "1";
    for (uint8_t d : data) out += BECH32_CHARSET[d];
    for (int i = 0; i < 6; ++i) out += BECH32_CHARSET[(mod >> (5 * (5 - i))) & 31];
    return out;
}

std::optional<std::string> ScriptAddress(ByteSpan spk)
{
    const std::string type = ScriptType(spk);
    int ver;
    ByteSpan prog;
    if (type == "pubkeyhash") {
        Bytes d{0x6f};
        d.insert(d.end(), spk.begin() + 3, spk.begin() + 23);
        return EncodeBase58Check(d);
    }
    if (type == "scripthash") {
        Bytes d{0xc4};
        d.insert(d.end(), spk.begin() + 2, spk.begin() + 22);
        return EncodeBase58Check(d);
    }
    if (IsWitnessProgram(spk, ver, prog) && type != "nonstandard") return EncodeSegwitAddress(ver, prog);
    return std::nullopt;
}

std::string AddDescriptorChecksum(const std::string& desc)
{
    // bitcoind answers a descriptor with a character outside the set unchanged here.
    return vw::AddDescriptorChecksum(desc).value_or(desc);
}

json::object ScriptPubKeyJson(ByteSpan spk)
{
    const std::string type = ScriptType(spk);
    const auto addr = ScriptAddress(spk);
    std::string desc;
    if (type == "witness_v1_taproot") desc = "rawtr(" + HexStr(spk.subspan(2)) + ")";
    else if (type == "pubkey") desc = "pk(" + HexStr(spk.subspan(1, spk.size() - 2)) + ")";
    else if (addr) desc = "addr(" + *addr + ")";
    else desc = "raw(" + HexStr(spk) + ")";
    json::object o;
    o["asm"] = ScriptToAsm(spk);
    o["desc"] = AddDescriptorChecksum(desc);
    o["hex"] = HexStr(spk);
    if (addr) o["address"] = *addr;
    o["type"] = type;
    return o;
}

std::optional<Bytes> DecodeAddress(const std::string& addr)
{
    // bech32 / bech32m
    std::string lower;
    for (char c : addr) lower += static_cast<char>((c >= 'A' && c <= 'Z') ? c - 'A' + 'a' : c);
    if (lower.rfind("bcrt1", 0) == 0) {
        const std::string hrp = "bcrt";
        std::vector<uint8_t> data;
        for (size_t i = 5; i < lower.size(); ++i) {
            const char* p = std::strchr(BECH32_CHARSET, lower[i]);
            if (!p || !*p) return std::nullopt;
            data.push_back(static_cast<uint8_t>(p - BECH32_CHARSET));
        }
        if (data.size() < 7) return std::nullopt;
        std::vector<uint8_t> v = HrpExpand(hrp);
        v.insert(v.end(), data.begin(), data.end());
        const uint32_t mod = Bech32Polymod(v);
        const int ver = data[0];
        if (ver > 16) return std::nullopt;
        if ((ver == 0 && mod != 1) || (ver != 0 && mod != 0x2bc830a3)) return std::nullopt;
        std::vector<uint8_t> prog;
        if (!ConvertBits(prog, ByteSpan(data.data() + 1, data.size() - 7), 5, 8, false)) return std::nullopt;
        if (prog.size() < 2 || prog.size() > 40) return std::nullopt;
        if (ver == 0 && prog.size() != 20 && prog.size() != 32) return std::nullopt;
        Bytes spk{static_cast<uint8_t>(ver == 0 ? 0 : 0x50 + ver), static_cast<uint8_t>(prog.size())};
        spk.insert(spk.end(), prog.begin(), prog.end());
        return spk;
    }
    auto d = DecodeBase58Check(addr);
    if (!d || d->size() != 21) return std::nullopt;
    if ((*d)[0] == 0x6f) {
        Bytes spk{0x76, 0xa9, 0x14};
        spk.insert(spk.end(), d->begin() + 1, d->end());
        spk.push_back(0x88);
        spk.push_back(0xac);
        return spk;
    }
    if ((*d)[0] == 0xc4) {
        Bytes spk{0xa9, 0x14};
        spk.insert(spk.end(), d->begin() + 1, d->end());
        spk.push_back(0x87);
        return spk;
    }
    return std::nullopt;
}

std::optional<Bytes> ParseOutputTarget(const std::string& target)
{
    std::string t = target;
    if (auto h = t.find('#'); h != std::string::npos) t = t.substr(0, h);
    if (t.rfind("raw(", 0) == 0 && t.back() == ')') return ParseHex(t.substr(4, t.size() - 5));
    if (t.rfind("addr(", 0) == 0 && t.back() == ')') return DecodeAddress(t.substr(5, t.size() - 6));
    return DecodeAddress(t);
}

} // namespace vw::sim
