// BIP-119 DefaultCheckTemplateVerifyHash beyond the ctvhash vectors (which
// bip_vectors_tests.cpp checks): the BIP's definition re-implemented here, what the hash commits
// to and what it does not, and the BIP's tx_valid/tx_invalid rows (Bitcoin Core format), whose
// template commitments are checked for the spending input in every script context.
#include "script/ctv.h"

#include "crypto/sha256.h"
#include "script/script.h"
#include "script/taproot.h"
#include "unit/util/test_data.h"

#include <boost/json.hpp>
#include <gtest/gtest.h>
#include <openssl/evp.h>

#include <cstdlib>
#include <iostream>
#include <map>
#include <sstream>

namespace vw::ctv {
namespace {

namespace json = boost::json;
using test::Unhex;

//! The BIP's reference get_default_check_template_hash, written out from the BIP text.
Uint256 ByDefinition(const MutableTransaction& tx, uint32_t n_in)
{
    Writer w;
    w.LE32(static_cast<uint32_t>(tx.version)).LE32(tx.locktime);
    bool any_ss = false;
    for (const auto& in : tx.vin) any_ss |= !in.script_sig.empty();
    if (any_ss) {
        Writer ss;
        for (const auto& in : tx.vin) ss.VarBytes(in.script_sig);
        w.Raw(crypto::Sha256Once(ss.buf()).span());
    }
    w.LE32(static_cast<uint32_t>(tx.vin.size()));
    Writer seq;
    for (const auto& in : tx.vin) seq.LE32(in.sequence);
    w.Raw(crypto::Sha256Once(seq.buf()).span());
    w.LE32(static_cast<uint32_t>(tx.vout.size()));
    Writer outs;
    for (const auto& o : tx.vout) outs.LE64(static_cast<uint64_t>(o.value.sats())).VarBytes(o.script_pubkey);
    w.Raw(crypto::Sha256Once(outs.buf()).span());
    w.LE32(n_in);
    return crypto::Sha256Once(w.buf());
}

MutableTransaction SampleTx()
{
    MutableTransaction m;
    m.version = -7; // negative versions are serialized as their two's complement
    m.locktime = 600'000;
    for (uint8_t i = 0; i < 3; ++i) {
        TxIn in;
        in.prevout = OutPoint{Txid::FromUint256(crypto::Sha256Once(Bytes{i})), i};
        in.sequence = 0xfffffffdu - i;
        m.vin.push_back(in);
    }
    m.vout.push_back(TxOut{Amount{1000}, Bytes{0x51}});
    m.vout.push_back(TxOut{Amount{0}, Bytes{0x6a, 0x01, 0x02}});
    return m;
}

TEST(ctv_tests, MatchesTheBipDefinition)
{
    MutableTransaction m = SampleTx();
    for (uint32_t i = 0; i < 5; ++i) {
        EXPECT_EQ(TemplateHash(m, i), ByDefinition(m, i)) << i;
        EXPECT_EQ(Precomputed{m}.Hash(i), ByDefinition(m, i)) << i;
    }
    m.vin[1].script_sig = Bytes{0x00}; // a scriptSig anywhere adds the scriptSigs hash
    for (uint32_t i = 0; i < 3; ++i) EXPECT_EQ(TemplateHash(m, i), ByDefinition(m, i)) << i;
    m.vin.clear();
    m.vout.clear();
    EXPECT_EQ(TemplateHash(m, 0), ByDefinition(m, 0));
}

TEST(ctv_tests, CommitsToTemplateFieldsOnly)
{
    const MutableTransaction base = SampleTx();
    const Uint256 h = TemplateHash(base, 0);
    EXPECT_NE(TemplateHash(base, 1), h) << "input index";
    std::vector<std::pair<const char*, MutableTransaction>> changed;
    auto with = [&](const char* what, auto f) {
        MutableTransaction m = base;
        f(m);
        changed.emplace_back(what, m);
    };
    with("version", [](MutableTransaction& m) { m.version = 2; });
    with("locktime", [](MutableTransaction& m) { ++m.locktime; });
    with("a sequence", [](MutableTransaction& m) { m.vin[2].sequence ^= 1; });
    with("input count", [](MutableTransaction& m) { m.vin.pop_back(); });
    with("a scriptSig", [](MutableTransaction& m) { m.vin[0].script_sig = Bytes{0x51}; });
    with("an amount", [](MutableTransaction& m) { m.vout[0].value += Amount{1}; });
    with("a scriptPubKey", [](MutableTransaction& m) { m.vout[1].script_pubkey.push_back(0x00); });
    with("output order", [](MutableTransaction& m) { std::swap(m.vout[0], m.vout[1]); });
    with("output count", [](MutableTransaction& m) { m.vout.pop_back(); });
    for (const auto& [what, m] : changed) EXPECT_NE(TemplateHash(m, 0), h) << what;

    // Not committed: the outpoints being spent and the witnesses.
    MutableTransaction m = base;
    m.vin[0].prevout.n = 99;
    m.vin[1].prevout.txid = Txid{};
    m.vin[2].witness = {Bytes{1, 2, 3}};
    EXPECT_EQ(TemplateHash(m, 0), h);
}

// ---- tx_valid.json / tx_invalid.json ------------------------------------------------------

//! The subset of Bitcoin Core's ParseScript that the vector files use. Numbers push as
//! CScript << int64 does, 0x.. inserts raw bytes, and opcode names with or without OP_.
std::optional<Bytes> ParseAsm(std::string_view text)
{
    static const std::map<std::string, uint8_t> names{
        {"CHECKTEMPLATEVERIFY", script::OP_CHECKTEMPLATEVERIFY}, {"NOP4", 0xb3}, {"HASH160", 0xa9}, {"EQUAL", 0x87},
        {"EQUALVERIFY", 0x88}, {"DROP", 0x75}, {"CHECKSIG", 0xac}, {"TRUE", 0x51}, {"DEPTH", 0x74}, {"IF", 0x63},
        {"ENDIF", 0x68}, {"NOP", 0x61}};
    Bytes out;
    std::istringstream in{std::string(text)};
    std::string w;
    while (in >> w) {
        const bool number = !w.empty() && (std::isdigit(static_cast<unsigned char>(w[0])) ||
                                           (w[0] == '-' && w.size() > 1 && std::isdigit(static_cast<unsigned char>(w[1]))));
        if (w.size() > 2 && w[0] == '0' && w[1] == 'x') {
            auto b = ParseHex(w.substr(2));
            if (!b) return std::nullopt;
            out.insert(out.end(), b->begin(), b->end());
        } else if (number) {
            script::PushInt(out, std::stoll(w));
        } else {
            auto it = names.find(w.rfind("OP_", 0) == 0 ? w.substr(3) : w);
            if (it == names.end()) return std::nullopt;
            out.push_back(it->second);
        }
    }
    return out;
}

enum class Outcome { Match, Mismatch, EmptyStack, NonStandardArgument };
const char* Name(Outcome o)
{
    switch (o) {
    case Outcome::Match: return "hash matches";
    case Outcome::Mismatch: return "hash mismatch";
    case Outcome::EmptyStack: return "empty stack";
    case Outcome::NonStandardArgument: return "argument not 32 bytes (upgradable NOP)";
    }
    return "?";
}

//! What the first OP_CHECKTEMPLATEVERIFY executed by one input sees, or why that can not be
//! determined without a script interpreter.
struct InputResult {
    bool uses_ctv{false};
    std::optional<Outcome> outcome;
    std::string context;
    std::string skipped; //!< non-empty: not checkable with what the lib does
};

std::optional<Bytes> StackItem(const script::Op& op)
{
    if (op.opcode == script::OP_1NEGATE) return Bytes{0x81};
    if (op.opcode >= script::OP_1 && op.opcode <= script::OP_16) return Bytes{static_cast<uint8_t>(op.opcode - script::OP_1 + 1)};
    if (op.is_push) return Bytes(op.data.begin(), op.data.end());
    return std::nullopt;
}

//! Push-only script (a scriptSig) to the stack it leaves.
std::optional<std::vector<Bytes>> PushOnlyStack(ByteSpan s)
{
    auto ops = script::DecodeOps(s);
    if (!ops) return std::nullopt;
    std::vector<Bytes> stack;
    for (const auto& op : *ops) {
        auto item = StackItem(op);
        if (!item) return std::nullopt;
        stack.push_back(std::move(*item));
    }
    return stack;
}

//! Returns: whether RIPEMD160(SHA256(data)) == want20, or nullopt if OpenSSL lacks RIPEMD160.
std::optional<bool> Hash160Matches(ByteSpan data, ByteSpan want20)
{
    EVP_MD* md = EVP_MD_fetch(nullptr, "RIPEMD160", nullptr);
    if (!md) return std::nullopt;
    const Uint256 sha = crypto::Sha256Once(data);
    uint8_t out[EVP_MAX_MD_SIZE];
    unsigned int len = 0;
    const bool ok = EVP_Digest(sha.data(), 32, out, &len, md, nullptr) == 1 && len == 20;
    EVP_MD_free(md);
    if (!ok) return std::nullopt;
    return Equal(ByteSpan{out, 20}, want20);
}

InputResult AnalyseInput(const MutableTransaction& tx, uint32_t n_in, ByteSpan spk)
{
    InputResult res;
    const TxIn& in = tx.vin[n_in];
    Bytes exec;
    std::vector<Bytes> stack;
    if (spk.size() == 34 && spk[0] == 0x00 && spk[1] == 0x20) {
        res.context = "P2WSH";
        if (in.witness.empty()) {
            res.skipped = "P2WSH input without witness";
            return res;
        }
        exec = in.witness.back();
        // The program commits to the witness script.
        EXPECT_TRUE(Equal(crypto::Sha256Once(exec).span(), spk.subspan(2))) << "P2WSH program != SHA256(witness script)";
        stack.assign(in.witness.begin(), in.witness.end() - 1);
    } else if (auto program = taproot::P2TRProgram(spk)) {
        res.context = "P2TR";
        std::vector<ByteSpan> items(in.witness.begin(), in.witness.end());
        auto spend = taproot::ClassifyWitness(items);
        if (!spend || spend->kind != taproot::Spend::Kind::ScriptPath) {
            res.skipped = "taproot key path: no script";
            return res;
        }
        auto cb = taproot::ParseControlBlock(spend->control);
        EXPECT_TRUE(cb) << "control block";
        if (!cb) return res;
        EXPECT_TRUE(taproot::VerifyScriptPath(*cb, spend->script, *program)) << "leaf not committed to the output key";
        EXPECT_EQ(cb->leaf_version, taproot::LEAF_VERSION_TAPSCRIPT);
        exec.assign(spend->script.begin(), spend->script.end());
        for (const auto& s : spend->stack) stack.emplace_back(s.begin(), s.end());
    } else if (spk.size() == 23 && spk[0] == 0xa9 && spk[1] == 0x14 && spk[22] == 0x87) {
        res.context = "P2SH";
        auto pushes = PushOnlyStack(in.script_sig);
        if (!pushes || pushes->empty()) {
            res.skipped = "P2SH scriptSig not push-only";
            return res;
        }
        exec = pushes->back();
        pushes->pop_back();
        stack = std::move(*pushes);
        auto h = Hash160Matches(exec, spk.subspan(2, 20));
        if (h) {
            EXPECT_TRUE(*h) << "P2SH hash != HASH160(redeem script)";
        } else {
            ADD_FAILURE() << "OpenSSL has no RIPEMD160: P2SH commitment not checked";
        }
    } else {
        res.context = "bare";
        auto pushes = PushOnlyStack(in.script_sig);
        if (!pushes) {
            res.skipped = "scriptSig not push-only";
            return res;
        }
        exec.assign(spk.begin(), spk.end());
        stack = std::move(*pushes);
    }
    auto ops = script::DecodeOps(exec);
    if (!ops) {
        res.skipped = "script does not decode";
        return res;
    }
    for (const auto& op : *ops) {
        if (op.opcode == script::OP_CHECKTEMPLATEVERIFY) {
            res.uses_ctv = true;
            if (stack.empty()) {
                res.outcome = Outcome::EmptyStack;
            } else if (stack.back().size() != 32) {
                res.outcome = Outcome::NonStandardArgument;
            } else {
                const Uint256 h = Precomputed{tx}.Hash(n_in);
                res.outcome = Equal(h.span(), stack.back()) ? Outcome::Match : Outcome::Mismatch;
            }
            return res;
        }
        auto item = StackItem(op);
        if (!item) {
            // Something other than a push runs before the CTV: needs an interpreter.
            res.uses_ctv = true;
            res.skipped = "non-push opcode before OP_CHECKTEMPLATEVERIFY";
            return res;
        }
        stack.push_back(std::move(*item));
    }
    return res; // no CTV in this input's script
}

struct RowResult {
    std::vector<InputResult> inputs;
    std::string skipped;
};

RowResult AnalyseRow(const json::array& row)
{
    RowResult out;
    auto tx = DecodeTransactionHex(std::string(row.at(1).as_string()));
    EXPECT_TRUE(tx) << "tx does not decode";
    if (!tx) {
        out.skipped = "undecodable";
        return out;
    }
    EXPECT_EQ(HexStr(SerializeTransaction(*tx)), std::string(row.at(1).as_string())) << "re-serialization";
    std::map<OutPoint, Bytes> spks;
    for (const auto& p : row.at(0).as_array()) {
        const auto& a = p.as_array();
        auto txid = Txid::FromHex(std::string(a.at(0).as_string()));
        auto spk = ParseAsm(std::string(a.at(2).as_string()));
        EXPECT_TRUE(txid && spk) << "prevout " << a;
        if (!txid || !spk) {
            out.skipped = "prevout not parsed";
            return out;
        }
        spks[OutPoint{*txid, static_cast<uint32_t>(a.at(1).to_number<int64_t>())}] = *spk;
    }
    const MutableTransaction& m = tx->mutable_copy();
    for (uint32_t i = 0; i < m.vin.size(); ++i) {
        auto it = spks.find(m.vin[i].prevout);
        EXPECT_NE(it, spks.end()) << "input " << i << " spends an unlisted prevout";
        if (it == spks.end()) continue;
        out.inputs.push_back(AnalyseInput(m, i, it->second));
    }
    return out;
}

std::string Describe(const RowResult& r)
{
    std::string s;
    for (size_t i = 0; i < r.inputs.size(); ++i) {
        const auto& in = r.inputs[i];
        s += " [in " + std::to_string(i) + " " + in.context + ": ";
        s += !in.uses_ctv ? "no CTV" : !in.skipped.empty() ? "skipped: " + in.skipped : Name(*in.outcome);
        s += "]";
    }
    return s;
}

bool HasFlag(const std::string& flags, std::string_view f)
{
    std::istringstream in{flags};
    std::string tok;
    while (std::getline(in, tok, ',')) {
        if (tok == f) return true;
    }
    return false;
}

struct VectorFile {
    std::vector<std::pair<std::string, json::array>> rows; // (comment, row)
};

VectorFile LoadVectors(const std::string& file)
{
    VectorFile v;
    std::string comment;
    const json::value doc = json::parse(test::ReadTestDataText("testvectors/" + file));
    for (const auto& e : doc.as_array()) {
        const auto& a = e.as_array();
        if (a.size() == 1 && a[0].is_string()) {
            comment = std::string(a[0].as_string());
            continue;
        }
        v.rows.emplace_back(comment, a);
    }
    return v;
}

TEST(ctv_tests, TxValidRowsCommitToTheirTemplates)
{
    const auto v = LoadVectors("bip119-tx_valid.json");
    size_t checked = 0;
    std::vector<std::string> skipped;
    for (size_t r = 0; r < v.rows.size(); ++r) {
        const auto& [comment, row] = v.rows[r];
        SCOPED_TRACE("tx_valid row " + std::to_string(r) + ": " + comment);
        const std::string excluded(row.at(2).as_string());
        const RowResult res = AnalyseRow(row);
        if (!res.skipped.empty()) {
            skipped.push_back(std::to_string(r) + ": " + res.skipped);
            continue;
        }
        if (HasFlag(excluded, "DEFAULT_CHECK_TEMPLATE_VERIFY_HASH")) {
            skipped.push_back(std::to_string(r) + ": CTV flag excluded (CTV is a NOP)");
            continue;
        }
        const bool discourage = !HasFlag(excluded, "DISCOURAGE_UPGRADABLE_NOPS");
        size_t ctv_inputs = 0;
        bool row_skipped = false;
        for (const auto& in : res.inputs) {
            if (!in.uses_ctv) continue;
            ++ctv_inputs;
            if (!in.skipped.empty()) {
                row_skipped = true;
                continue;
            }
            // A valid spend: the hash matches, or a non-32-byte argument makes CTV a NOP, which
            // is only allowed when upgradable NOPs are not discouraged.
            const bool ok = *in.outcome == Outcome::Match || (*in.outcome == Outcome::NonStandardArgument && !discourage);
            EXPECT_TRUE(ok) << Describe(res);
        }
        EXPECT_GT(ctv_inputs, 0u) << "no input of a tx_valid row executes CTV" << Describe(res);
        if (std::getenv("VW_CTV_VERBOSE")) std::cout << "valid " << r << ":" << Describe(res) << "\n";
        if (row_skipped) {
            skipped.push_back(std::to_string(r) + ":" + Describe(res));
        } else {
            ++checked;
        }
    }
    EXPECT_EQ(v.rows.size(), 19u);
    EXPECT_EQ(checked + skipped.size(), v.rows.size());
    for (const auto& s : skipped) std::cout << "[ skipped  ] tx_valid row " << s << "\n";
    EXPECT_EQ(checked, 19u) << "rows checked";
}

TEST(ctv_tests, TxInvalidRowsFailTheirTemplateCheck)
{
    const auto v = LoadVectors("bip119-tx_invalid.json");
    size_t checked = 0;
    std::vector<std::string> skipped;
    for (size_t r = 0; r < v.rows.size(); ++r) {
        const auto& [comment, row] = v.rows[r];
        SCOPED_TRACE("tx_invalid row " + std::to_string(r) + ": " + comment);
        const std::string flags(row.at(2).as_string());
        const RowResult res = AnalyseRow(row);
        if (!res.skipped.empty()) {
            skipped.push_back(std::to_string(r) + ": " + res.skipped);
            continue;
        }
        if (!HasFlag(flags, "DEFAULT_CHECK_TEMPLATE_VERIFY_HASH")) {
            skipped.push_back(std::to_string(r) + ": CTV flag not applied");
            continue;
        }
        const bool discourage = HasFlag(flags, "DISCOURAGE_UPGRADABLE_NOPS");
        bool explained = false, any_skipped = false;
        for (const auto& in : res.inputs) {
            if (!in.uses_ctv) continue;
            if (!in.skipped.empty()) {
                any_skipped = true;
                continue;
            }
            explained |= *in.outcome == Outcome::Mismatch || *in.outcome == Outcome::EmptyStack ||
                         (*in.outcome == Outcome::NonStandardArgument && discourage);
        }
        if (!explained && any_skipped) {
            skipped.push_back(std::to_string(r) + ":" + Describe(res));
            continue;
        }
        if (std::getenv("VW_CTV_VERBOSE")) std::cout << "invalid " << r << ":" << Describe(res) << "\n";
        EXPECT_TRUE(explained) << "no CTV failure found for an invalid row:" << Describe(res);
        ++checked;
    }
    EXPECT_EQ(v.rows.size(), 11u);
    for (const auto& s : skipped) std::cout << "[ skipped  ] tx_invalid row " << s << "\n";
    EXPECT_EQ(checked, 11u) << "rows checked";
}

} // namespace
} // namespace vw::ctv
