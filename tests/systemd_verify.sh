#!/usr/bin/env bash
# systemd-analyze on contrib/systemd/vaultwatchd.service (or the unit the package installs, its
# ExecStart at /usr/bin): `verify` must pass (with ExecStart pointed at the built binary), and the
# offline `security` exposure must stay at or below 2.0.
# Exit 77 (ctest: skipped) when systemd-analyze cannot run here.
#   tests/systemd_verify.sh UNIT VAULTWATCHD
set -euo pipefail
unit="$1"; bin="$2"
command -v systemd-analyze >/dev/null || { echo "systemd-analyze not found"; exit 77; }
dir="$(mktemp -d)"; trap 'rm -rf "$dir"' EXIT
# ExecStart=<any dir>/vaultwatchd ... -> ExecStart=VAULTWATCHD ...
sed -E "s#^ExecStart=([-@:+!]*)/[^ ]*/vaultwatchd( |\$)#ExecStart=\\1$bin\\2#" "$unit" > "$dir/vaultwatchd.service"
grep '^ExecStart=' "$dir/vaultwatchd.service" | grep -qF -- "$bin" || { echo "no ExecStart=.../vaultwatchd in $unit"; exit 1; }
out="$(systemd-analyze verify "$dir/vaultwatchd.service" 2>&1)" || { echo "$out"; exit 1; }
[ -z "$out" ] || { echo "systemd-analyze verify warned:"; echo "$out"; exit 1; }
echo "systemd-analyze verify: ok"
if systemd-analyze security --help 2>/dev/null | grep -q -- '--offline'; then
  systemd-analyze security --offline=true --threshold=20 "$dir/vaultwatchd.service" | tail -1
else
  echo "systemd-analyze security --offline not available here"
fi
