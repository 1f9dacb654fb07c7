#!/usr/bin/env bash
# The main job, end to end on a local regtest chain: install what is missing, build, run the
# core's self-check, then a node (the simulator, or $BITCOIND) with vaultwatchd beside it, and
# both kinds of vault being protected: a thief broadcasts each vault's unvault, vaultwatchd
# answers with the recovery before anyone else can act (the pre-signed recovery; for the BIP-345
# vault an OP_VAULT_RECOVER sweep it builds and funds itself), and a webhook receiver gets the
# signed alerts. On a node that does not enforce OP_VAULT the BIP-345 vault is refused, and why.
#   contrib/demo.sh [--no-deps]   (--no-deps: skip the package check, as contrib/test.sh does)
set -euo pipefail
cd "$(dirname "$0")/.."
JOBS=${JOBS:-$(nproc)}

[ "${1:-}" = "--no-deps" ] || bash contrib/install-deps.sh
echo "== build"
# Configured once: a second configure of a configured tree changes how pkg-config's -isystem
# flags are passed (CMake's cache), which would rebuild everything for nothing.
[ -f build/CMakeCache.txt ] || cmake -S . -B build -G Ninja -DCMAKE_BUILD_TYPE=RelWithDebInfo >/dev/null
cmake --build build -j"$JOBS" --target vaultwatchd vaultwatch-cli vw-regtest-sim vw-demo-wallet vw_bench_scan

echo "== core self-check: scan real blocks against 1,000,000 vaults, vs one SHA-256 pass"
./build/tests/bench/vw_bench_scan --iters 20 | tail -8

WORK=$(mktemp -d)
NODE_PID=""; VW_PID=""; WH_PID=""; VW_EXTRA=()
cleanup() {
  [ -n "$VW_PID" ] && kill "$VW_PID" 2>/dev/null || true
  [ -n "$WH_PID" ] && kill "$WH_PID" 2>/dev/null || true
  [ -n "$NODE_PID" ] && kill "$NODE_PID" 2>/dev/null || true
  wait 2>/dev/null || true
  rm -rf "$WORK"
}
trap cleanup EXIT
json() { python3 -c 'import json,sys; v=json.load(sys.stdin)
for k in sys.argv[1:]: v=v[k] if not k.isdigit() else v[int(k)]
print(v if isinstance(v,str) else json.dumps(v))' "$@"; }

free_port() { python3 -c 'import socket; s=socket.socket(); s.bind(("127.0.0.1",0)); print(s.getsockname()[1])'; }
RPCPORT=$(free_port); ZTX=$(free_port); ZSEQ=$(free_port); ZBLK=$(free_port); VWPORT=$(free_port); WHPORT=$(free_port)
NODE_ARGS=(-regtest -rpcport="$RPCPORT" -rpcuser=demo -rpcpassword=demo
           -zmqpubrawtx=tcp://127.0.0.1:"$ZTX" -zmqpubsequence=tcp://127.0.0.1:"$ZSEQ"
           -zmqpubhashblock=tcp://127.0.0.1:"$ZBLK")
if [ -n "${BITCOIND:-}" ]; then
  echo "== node: $BITCOIND"
  mkdir -p "$WORK/node"
  "$BITCOIND" "${NODE_ARGS[@]}" -datadir="$WORK/node" -listen=0 -server -fallbackfee=0.0001 >"$WORK/node.log" 2>&1 &
else
  echo "== node: the regtest simulator (BITCOIND=/path/to/bitcoind runs a real node instead)"
  ./build/tests/sim/vw-regtest-sim "${NODE_ARGS[@]}" >"$WORK/node.log" 2>&1 &
  # The simulator checks no scripts, so it says (truthfully) that it does not enforce OP_VAULT;
  # vaultwatchd refuses OP_VAULT vaults on such a node unless told that this is a regtest test.
  VW_EXTRA+=(--allowunenforcedopvault)
fi
NODE_PID=$!
node() { ./build/daemon/vaultwatch-cli -rpcport="$RPCPORT" -rpcuser=demo -rpcpassword=demo -rpcwait "$@"; }
vw() { ./build/daemon/vaultwatch-cli -regtest -datadir="$WORK/vw" -rpcport="$VWPORT" -rpcwait "$@"; }
node getblockcount >/dev/null

ADDR=$(./build/tests/vw-demo-wallet address)
node generatetoaddress 101 "$ADDR" >/dev/null
echo "node at height $(node getblockcount)"

echo "== a webhook receiver on 127.0.0.1:$WHPORT (checks every signature)"
WHSECRET=$(python3 -c 'import secrets; print(secrets.token_hex(32))')
python3 contrib/demo-webhook-receiver.py "$WHPORT" "$WHSECRET" "$WORK/webhooks.jsonl" &
WH_PID=$!

echo "== vaultwatchd"
mkdir -p "$WORK/vw"
./build/daemon/vaultwatchd --chain=regtest --datadir="$WORK/vw" --rpcport="$VWPORT" --startheight=0 --pollseconds=1 \
  --bitcoind.rpcport="$RPCPORT" --bitcoind.rpcuser=demo --bitcoind.rpcpassword=demo \
  --webhook=http://127.0.0.1:"$WHPORT"/vaultwatch --webhooksecret="$WHSECRET" --webhookevents='vault.*,recovery.*' \
  "${VW_EXTRA[@]}" >"$WORK/vw.log" 2>&1 &
VW_PID=$!
wait_until() { # <description> <command...>: polls for up to 20 s
  local what=$1; shift
  for _ in $(seq 200); do "$@" >/dev/null 2>&1 && return 0; sleep 0.1; done
  echo "timed out waiting for: $what"; tail -30 "$WORK/vw.log"; exit 1
}
at_height() { [ "$(vw getinfo | json height)" = "$1" ]; }
wait_until "vaultwatchd to catch up" at_height 101
vw getinfo

echo "== vault 1 (pre-signed): funded on chain, its unvault and recovery pre-signed by the operator"
DEMO=$(./build/tests/vw-demo-wallet presigned "$(node getblock "$(node getblockhash 1)" 0)")
node sendrawtransaction "$(echo "$DEMO" | json funding)" >/dev/null
node generatetoaddress 1 "$ADDR" >/dev/null
VAULT=$(vw registervault "$(echo "$DEMO" | json registration)")
VID=$(echo "$VAULT" | json vault_id)
echo "registered $VID:"; echo "$VAULT"
wait_until "vaultwatchd at height 102" at_height 102

echo "== a thief broadcasts the vault's unvault (trigger) $(echo "$DEMO" | json trigger_txid)"
node sendrawtransaction "$(echo "$DEMO" | json trigger)" >/dev/null
REC=$(echo "$DEMO" | json recovery_txid)
in_mempool() { node getrawmempool | grep -q "$REC"; }
wait_until "the recovery in the node's mempool" in_mempool
echo "vaultwatchd answered at first sight: recovery $REC is in the node's mempool"
vw listrecoveries
node generatetoaddress 1 "$ADDR" >/dev/null
recovered() { [ "$(vw getvault "$VID" | json state)" = "recovered" ]; }
wait_until "the vault to be recovered" recovered
echo "== the recovery confirmed; the vault is $(vw getvault "$VID" | json state)"

echo "== vault 2 (BIP-345 OP_VAULT): deposit, and a coin for the tower's fee wallet"
FEE_SPK=$(vw getfeewallet | json script_pubkey)
OV=$(./build/tests/vw-demo-wallet opvault "$(node getblock "$(node getblockhash 2)" 0)" "$FEE_SPK")
echo "the node says OP_VAULT is enforced: $(vw getinfo | json opvault_enforced)"
if ! OVAULT=$(vw registervault "$(echo "$OV" | json registration)" 2>&1); then
  echo "vaultwatchd refused the OP_VAULT vault, as it must on a node that does not enforce BIP-345"
  echo "(its outputs would be anyone-can-spend there):"
  echo "  $OVAULT"
  OVID=""
else
  OVID=$(echo "$OVAULT" | json vault_id)
  echo "registered $OVID at $(echo "$OV" | json vault_address): $(echo "$OVAULT" | json protection)"
  node sendrawtransaction "$(echo "$OV" | json deposit)" >/dev/null
  node generatetoaddress 1 "$ADDR" >/dev/null
  wait_until "vaultwatchd at height 104" at_height 104
  # The tower splits a fresh fee coin into recovery-sized coins; it funds sweeps only from
  # confirmed coins, so one block goes by before it is ready.
  node generatetoaddress 1 "$ADDR" >/dev/null
  fee_ready() { [ "$(vw getfeewallet | json balance)" -gt 0 ]; }
  wait_until "the fee wallet's coins to confirm" fee_ready
  echo "vault $OVID holds $(vw getvault "$OVID" | json utxos 0 amount) sat; the fee wallet $(vw getfeewallet | json balance) sat in $(vw getfeewallet | json utxos | python3 -c 'import json,sys; print(len(json.load(sys.stdin)))') coins"
  echo "== a thief who stole the trigger key broadcasts the OP_VAULT trigger $(echo "$OV" | json trigger_txid)"
  node sendrawtransaction "$(echo "$OV" | json trigger)" >/dev/null
  ov_sweep() { [ "$(vw listrecoveries | python3 -c 'import json,sys
r=[x for x in json.load(sys.stdin)["recoveries"] if x["kind"].startswith("opvault") and x["state"]=="broadcast"]
print(r[0]["txid"] if r else "")')" != "" ]; }
  wait_until "the OP_VAULT_RECOVER sweep" ov_sweep
  OREC=$(vw listrecoveries | python3 -c 'import json,sys
print([x for x in json.load(sys.stdin)["recoveries"] if x["kind"].startswith("opvault")][0]["txid"])')
  node getrawmempool | grep -q "$OREC" && echo "vaultwatchd built, funded and broadcast the OP_VAULT_RECOVER sweep $OREC"
  node decoderawtransaction "$(vw getrecovery "$OREC" | json hex)" 2>/dev/null | python3 -c 'import json,sys
t=json.load(sys.stdin)
print("  inputs: " + ", ".join("%s:%d" % (i["txid"][:16], i["vout"]) for i in t["vin"]))
print("  outputs: " + ", ".join("%d sat to %s" % (round(o["value"]*1e8), o["scriptPubKey"]["hex"][:20]+"...") for o in t["vout"]))' || true
  node generatetoaddress 1 "$ADDR" >/dev/null
  orecovered() { [ "$(vw getvault "$OVID" | json state)" = "recovered" ]; }
  wait_until "the OP_VAULT vault to be recovered" orecovered
  echo "== the sweep confirmed; the OP_VAULT vault is $(vw getvault "$OVID" | json state), its coins at the recovery address"
fi

echo "== the event log:"
vw listevents | python3 -c 'import json,sys
for e in json.load(sys.stdin)["events"]:
    print("  #%-3d %-20s %-20s %s" % (e["seq"], e["type"], e["vault_id"] or "", e["txid"] or ""))'
confirmed_alerts() { grep -c '"recovery.confirmed"' "$WORK/webhooks.jsonl" 2>/dev/null || true; }
webhooks_in() { [ "$(confirmed_alerts)" -ge "$([ -n "$OVID" ] && echo 2 || echo 1)" ]; }
wait_until "the recovery.confirmed webhook" webhooks_in
echo "== the webhooks the receiver got, in order (signed with the secret it was given):"
python3 -c 'import json,sys
for l in open(sys.argv[1]):
    d = json.loads(l)
    print("  %-20s %-26s signature %s" % (d["type"], d["id"], "ok" if d["signature_ok"] else "BAD"))' "$WORK/webhooks.jsonl"
[ "$(vw getvault "$VID" | json state)" = "recovered" ] || { echo "FAILED: the pre-signed vault is not recovered"; exit 1; }
if [ -n "$OVID" ]; then
  [ "$(vw getvault "$OVID" | json state)" = "recovered" ] || { echo "FAILED: the OP_VAULT vault is not recovered"; exit 1; }
  echo "== demo finished: both vault kinds recovered (pre-signed and BIP-345 OP_VAULT)"
else
  echo "== demo finished: the pre-signed vault recovered; the OP_VAULT vault refused on a node that does not enforce it"
fi
