#include "script/script.h"

namespace vw::script {

std::optional<Op> OpIterator::Next()
{
    if (m_failed || m_pos >= m_script.size()) return std::nullopt;
    Op op;
    op.opcode = m_script[m_pos++];
    if (op.opcode > OP_PUSHDATA4) return op;
    op.is_push = true;
    size_t len = 0;
    const size_t left = m_script.size() - m_pos;
    if (op.opcode < OP_PUSHDATA1) {
        len = op.opcode;
    } else {
        const size_t width = op.opcode == OP_PUSHDATA1 ? 1 : op.opcode == OP_PUSHDATA2 ? 2 : 4;
        if (left < width) {
            m_failed = true;
            return std::nullopt;
        }
        for (size_t i = 0; i < width; ++i) len |= size_t{m_script[m_pos + i]} << (8 * i);
        m_pos += width;
    }
    if (m_script.size() - m_pos < len) {
        m_failed = true;
        return std::nullopt;
    }
    op.data = m_script.subspan(m_pos, len);
    m_pos += len;
    return op;
}

Expected<std::vector<Op>, ScriptError> DecodeOps(ByteSpan script)
{
    std::vector<Op> ops;
    OpIterator it{script};
    while (auto op = it.Next()) ops.push_back(*op);
    if (it.failed()) return Unexpected{ScriptError::TruncatedPush};
    return ops;
}

bool IsMinimalPush(const Op& op)
{
    const size_t n = op.data.size();
    if (!op.is_push) return true;
    if (n == 0) return op.opcode == OP_0;
    if (n == 1 && op.data[0] >= 1 && op.data[0] <= 16) return false; // should be OP_1..OP_16
    if (n == 1 && op.data[0] == 0x81) return false;                  // should be OP_1NEGATE
    if (n <= 75) return op.opcode == n;
    if (n <= 255) return op.opcode == OP_PUSHDATA1;
    if (n <= 65535) return op.opcode == OP_PUSHDATA2;
    return true;
}

void PushData(Bytes& s, ByteSpan d)
{
    const size_t n = d.size();
    if (n < OP_PUSHDATA1) {
        s.push_back(static_cast<uint8_t>(n));
    } else if (n <= 0xff) {
        s.push_back(OP_PUSHDATA1);
        s.push_back(static_cast<uint8_t>(n));
    } else if (n <= 0xffff) {
        s.push_back(OP_PUSHDATA2);
        s.push_back(static_cast<uint8_t>(n));
        s.push_back(static_cast<uint8_t>(n >> 8));
    } else {
        s.push_back(OP_PUSHDATA4);
        for (int i = 0; i < 4; ++i) s.push_back(static_cast<uint8_t>(n >> (8 * i)));
    }
    s.insert(s.end(), d.begin(), d.end());
}

void PushAllItem(Bytes& s, ByteSpan d)
{
    if (d.empty()) {
        s.push_back(OP_0);
    } else if (d.size() == 1 && d[0] >= 1 && d[0] <= 16) {
        s.push_back(static_cast<uint8_t>(OP_1 + d[0] - 1));
    } else if (d.size() == 1 && d[0] == 0x81) {
        s.push_back(OP_1NEGATE);
    } else {
        PushData(s, d);
    }
}

Bytes EncodeScriptNum(int64_t n)
{
    Bytes out;
    if (n == 0) return out;
    const bool neg = n < 0;
    uint64_t abs = neg ? (~static_cast<uint64_t>(n) + 1) : static_cast<uint64_t>(n);
    while (abs) {
        out.push_back(static_cast<uint8_t>(abs & 0xff));
        abs >>= 8;
    }
    if (out.back() & 0x80) {
        out.push_back(neg ? 0x80 : 0x00);
    } else if (neg) {
        out.back() |= 0x80;
    }
    return out;
}

void PushInt(Bytes& s, int64_t n)
{
    if (n == -1 || (n >= 1 && n <= 16)) {
        s.push_back(static_cast<uint8_t>(n + (OP_1 - 1)));
    } else if (n == 0) {
        s.push_back(OP_0);
    } else {
        PushData(s, EncodeScriptNum(n));
    }
}

Expected<int64_t, NumError> DecodeScriptNum(ByteSpan b, size_t max_size, bool require_minimal)
{
    // More than 8 bytes can not fit an int64_t (and would shift by 64 below): too long whatever
    // max_size the caller allows.
    if (b.size() > max_size || b.size() > 8) return Unexpected{NumError::TooLong};
    if (require_minimal && !b.empty()) {
        // The last byte may be 0x00/0x80 only if the byte before it needs its high bit.
        if ((b.back() & 0x7f) == 0 && (b.size() <= 1 || (b[b.size() - 2] & 0x80) == 0)) {
            return Unexpected{NumError::NonMinimal};
        }
    }
    if (b.empty()) return int64_t{0};
    uint64_t v = 0;
    for (size_t i = 0; i < b.size(); ++i) v |= uint64_t{b[i]} << (8 * i);
    if (b.back() & 0x80) {
        v &= ~(uint64_t{0x80} << (8 * (b.size() - 1)));
        return -static_cast<int64_t>(v);
    }
    return static_cast<int64_t>(v);
}

std::optional<int64_t> OpAsNumber(const Op& op, size_t max_size, bool require_minimal)
{
    if (op.opcode == OP_0) return 0;
    if (op.opcode == OP_1NEGATE) return -1;
    if (op.opcode >= OP_1 && op.opcode <= OP_16) return op.opcode - (OP_1 - 1);
    if (!op.is_push) return std::nullopt;
    auto n = DecodeScriptNum(op.data, max_size, require_minimal);
    if (!n) return std::nullopt;
    return *n;
}

} // namespace vw::script
