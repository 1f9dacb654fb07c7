#pragma once
// Script: opcode iteration, push encoding and CScriptNum, as consensus defines them.

#include "util/bytes.h"
#include "util/expected.h"

#include <cstdint>
#include <optional>

namespace vw::script {

enum Opcode : uint8_t {
    OP_0 = 0x00,
    OP_PUSHDATA1 = 0x4c,
    OP_PUSHDATA2 = 0x4d,
    OP_PUSHDATA4 = 0x4e,
    OP_1NEGATE = 0x4f,
    OP_1 = 0x51,
    OP_2 = 0x52,
    OP_16 = 0x60,
    OP_RETURN = 0x6a,
    OP_DROP = 0x75,
    OP_EQUAL = 0x87,
    OP_CHECKSIG = 0xac,
    OP_CHECKSIGVERIFY = 0xad,
    OP_CHECKSEQUENCEVERIFY = 0xb2,
    OP_CHECKTEMPLATEVERIFY = 0xb3,
    OP_VAULT = 0xbb,
    OP_VAULT_RECOVER = 0xbc,
};

//! One decoded operation. For pushes, data views the script buffer.
struct Op {
    uint8_t opcode{0};
    ByteSpan data;     //!< pushed bytes (empty for non-push opcodes and OP_0)
    bool is_push{false}; //!< OP_0..OP_PUSHDATA4 (not OP_1..OP_16)
};

enum class ScriptError { TruncatedPush };

//! Iterates the operations of a script. Next() returns nullopt at the end; a push whose length
//! runs past the end makes error() TruncatedPush and ends iteration.
class OpIterator
{
public:
    explicit OpIterator(ByteSpan script) : m_script(script) {}
    std::optional<Op> Next();
    bool failed() const { return m_failed; }
    size_t pos() const { return m_pos; }

private:
    ByteSpan m_script;
    size_t m_pos{0};
    bool m_failed{false};
};

//! Returns: every op of the script, or TruncatedPush.
Expected<std::vector<Op>, ScriptError> DecodeOps(ByteSpan script);

//! Returns: whether op is the minimal way to push its data (Core CheckMinimalPush).
bool IsMinimalPush(const Op& op);

//! Appends the minimal push of data (Core CScript::operator<<(vector)): 0 bytes -> OP_0,
//! otherwise a direct/PUSHDATA push. Does not use OP_1..OP_16 for one-byte data.
void PushData(Bytes& script, ByteSpan data);

//! Appends data the way Core's signing PushAll does (used by OP_VAULT's leaf update): empty ->
//! OP_0, a single byte 1..16 -> OP_1..OP_16, single 0x81 -> OP_1NEGATE, else PushData.
void PushAllItem(Bytes& script, ByteSpan data);

//! Appends a number as CScript << int64 does: 0 -> OP_0, -1 and 1..16 -> opcodes, else a push of
//! its CScriptNum encoding.
void PushInt(Bytes& script, int64_t n);

//! CScriptNum encoding of n (little-endian magnitude, sign bit in the last byte; 0 -> empty).
Bytes EncodeScriptNum(int64_t n);

enum class NumError { TooLong, NonMinimal };
//! Decodes a CScriptNum of at most max_size (and at most 8) bytes. With require_minimal, non-minimal encodings
//! (a redundant trailing 0x00/0x80) fail as under SCRIPT_VERIFY_MINIMALDATA.
Expected<int64_t, NumError> DecodeScriptNum(ByteSpan bytes, size_t max_size, bool require_minimal);

//! Returns: the number a push or small-int opcode denotes (OP_0, OP_1NEGATE, OP_1..OP_16, or a
//! data push decoded as CScriptNum up to max_size), else nullopt.
std::optional<int64_t> OpAsNumber(const Op& op, size_t max_size = 4, bool require_minimal = true);

} // namespace vw::script
