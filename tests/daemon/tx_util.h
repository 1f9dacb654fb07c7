#pragma once
// Transaction and vault helpers shared by the process tests and the benchmarks. Coins are mined to and moved
// through P2WSH(OP_TRUE), spent with the witness [OP_TRUE]: valid on a real node without a wallet,
// and on the simulator (which runs no scripts).

#include "crypto/secp.h"
#include "crypto/sha256.h"
#include "primitives/transaction.h"
#include "util/bech32.h"
#include "util/hex.h"
#include "vault/opvault.h"

#include <algorithm>
#include <stdexcept>
#include <string>

namespace vw::test {

inline const Bytes kOpTrue{0x51};

//! P2WSH(OP_TRUE): anyone can spend it with the witness [OP_TRUE].
inline Bytes AnyoneCanSpend()
{
    const Uint256 h = crypto::Sha256Once(kOpTrue);
    Bytes spk(34, 0);
    spk[1] = 0x20;
    std::copy(h.bytes.begin(), h.bytes.end(), spk.begin() + 2);
    return spk;
}

inline std::string AnyoneCanSpendAddress() { return *bech32::SegwitAddress("bcrt", 0, ByteSpan{AnyoneCanSpend()}.subspan(2)); }

//! A P2TR scriptPubKey whose 32-byte key is `fill` repeated (a destination nobody spends from).
inline Bytes P2TR(uint8_t fill)
{
    Bytes spk{0x51, 0x20};
    spk.resize(34, fill);
    return spk;
}

//! Spends an anyone-can-spend output prev into one output (value to spk), replaceable.
inline MutableTransaction Spend(const OutPoint& prev, Amount value, const Bytes& spk)
{
    MutableTransaction m;
    TxIn in;
    in.prevout = prev;
    in.sequence = 0xfffffffd;
    in.witness = {kOpTrue};
    m.vin.push_back(in);
    m.vout.push_back({value, spk});
    return m;
}

//! A key pair whose secret is `fill` repeated.
inline crypto::KeyPair TestKey(uint8_t fill)
{
    Uint256 sec;
    sec.bytes.fill(fill);
    return *crypto::KeyPair::FromSecret(sec.span());
}

//! An OP_VAULT vault: an unauthorized recover leaf to recovery_spk and a trigger leaf for
//! trigger_pk with `delay`, under internal; and its registervault JSON.
struct TestOpVault {
    vault::Vault vault;
    std::string registration;
};
inline TestOpVault MakeTestOpVault(const crypto::XOnlyPubKey& internal, const crypto::XOnlyPubKey& trigger_pk, const Bytes& recovery_spk,
                                   int64_t delay, const std::string& label = "")
{
    vault::VaultSpec spec{internal, {}, recovery_spk, std::nullopt};
    spec.leaves = {taproot::Leaf{vault::MakeRecoverLeaf(vault::RecoverySpkHash(recovery_spk), std::nullopt), 1},
                   taproot::Leaf{vault::MakeTriggerLeaf(trigger_pk, delay), 1}};
    auto v = vault::Vault::FromSpec(spec);
    if (!v) throw std::runtime_error("test vault: " + v.error());
    std::string reg = R"({"kind":"opvault",)" + (label.empty() ? std::string{} : R"("label":")" + label + R"(",)") + R"("internal_key":")" +
                      HexStr(internal.span()) + R"(","leaves":[{"script":")" + HexStr(spec.leaves[0].script) + R"(","depth":1},{"script":")" +
                      HexStr(spec.leaves[1].script) + R"(","depth":1}],"recovery_script_pubkey":")" + HexStr(recovery_spk) + R"("})";
    return TestOpVault{std::move(*v), std::move(reg)};
}

//! The same with an authorized recover leaf (`20 <auth> ad 20 <hash> bc`); its secret, the
//! 32 bytes `auth_fill` (TestKey), goes in the registration.
inline TestOpVault MakeAuthorizedTestOpVault(const crypto::XOnlyPubKey& internal, const crypto::XOnlyPubKey& trigger_pk, const Bytes& recovery_spk,
                                             int64_t delay, uint8_t auth_fill)
{
    const auto auth = TestKey(auth_fill).PubKey();
    vault::VaultSpec spec{internal, {}, recovery_spk, auth};
    spec.leaves = {taproot::Leaf{vault::MakeRecoverLeaf(vault::RecoverySpkHash(recovery_spk), auth), 1},
                   taproot::Leaf{vault::MakeTriggerLeaf(trigger_pk, delay), 1}};
    auto v = vault::Vault::FromSpec(spec);
    if (!v) throw std::runtime_error("test vault: " + v.error());
    std::string reg = R"({"kind":"opvault","internal_key":")" + HexStr(internal.span()) + R"(","leaves":[{"script":")" +
                      HexStr(spec.leaves[0].script) + R"(","depth":1},{"script":")" + HexStr(spec.leaves[1].script) +
                      R"(","depth":1}],"recovery_script_pubkey":")" + HexStr(recovery_spk) + R"(","recovery_auth":")" +
                      HexStr(Bytes(32, auth_fill)) + R"("})";
    return TestOpVault{std::move(*v), std::move(reg)};
}

} // namespace vw::test
