#!/usr/bin/env bash
# The Debian package: `cpack -G DEB` in BUILD_DIR (into a temporary directory), then
#   - dpkg-deb -c: every file the package must carry is there (binaries, unit, sysusers/tmpfiles
#     snippets, example config, every docs/*.md), and nothing outside /usr;
#   - dpkg-deb -f: its control fields (name, version, architecture, maintainer, dependencies);
#   - dpkg-deb -x into a throwaway root: the extracted vaultwatchd and vaultwatch-cli run, the
#     unit's ExecStart is /usr/bin/vaultwatchd, and tests/systemd_verify.sh passes on the unit with
#     ExecStart pointed at the extracted binary (skipped without systemd-analyze);
#   - dpkg -i into a second throwaway root (its own --root and --admindir), the postinst run
#     outside a chroot with DPKG_ROOT set, as dpkg --force-script-chrootless does: the vaultwatch
#     user and the bitcoin group end up in that root's /etc. Needs root or fakeroot (dpkg chowns
#     every file to root:root): without either it is skipped and dpkg-deb -x above stands alone.
# Exit 77 (ctest: skipped) without cpack or dpkg-deb. CMake's DEB generator writes the archive
# itself (root-owned entries without fakeroot), so fakeroot is needed only for the dpkg step.
#   tests/package_test.sh BUILD_DIR SOURCE_DIR      (CPACK= the cpack of the configuring cmake)
set -euo pipefail
build="$(cd "$1" && pwd)"; src="$(cd "$2" && pwd)"
cpack="${CPACK:-cpack}"
command -v "$cpack" >/dev/null || { echo "cpack not found"; exit 77; }
command -v dpkg-deb >/dev/null || { echo "dpkg-deb not found"; exit 77; }
[ -f "$build/CPackConfig.cmake" ] || { echo "FAIL: no $build/CPackConfig.cmake (reconfigure $build)"; exit 1; }

tmp="$(mktemp -d)"; trap 'rm -rf "$tmp"' EXIT
fail=0
bad() { echo "FAIL: $*"; fail=1; }

# --- build the package ---------------------------------------------------------------------------
if ! (cd "$build" && "$cpack" -G DEB -B "$tmp/out") >"$tmp/cpack.log" 2>&1; then
  cat "$tmp/cpack.log"; echo "FAIL: cpack -G DEB"; exit 1
fi
debs=("$tmp"/out/*.deb)
if [ ${#debs[@]} -ne 1 ] || [ ! -f "${debs[0]}" ]; then
  cat "$tmp/cpack.log"; echo "FAIL: cpack made no single .deb: ${debs[*]}"; exit 1
fi
deb="${debs[0]}"
echo "package: $(basename "$deb") ($(du -k "$deb" | cut -f1) KiB)"

# --- the file list -------------------------------------------------------------------------------
dpkg-deb -c "$deb" >"$tmp/contents"
# "-rwxr-xr-x root/root 123 2024-01-01 00:00 ./usr/bin/vaultwatchd": the path, without its "./".
awk '{ p = $6; sub(/^\.\//, "/", p); print p }' "$tmp/contents" >"$tmp/paths"
expected=(/usr/bin/vaultwatchd /usr/bin/vaultwatch-cli
          /usr/lib/sysusers.d/vaultwatch.conf /usr/lib/tmpfiles.d/vaultwatch.conf
          /usr/share/doc/vaultwatch/vaultwatch.conf.example /usr/share/doc/vaultwatch/README.md)
for md in "$src"/docs/*.md; do expected+=("/usr/share/doc/vaultwatch/$(basename "$md")"); done
missing=()
for p in "${expected[@]}"; do grep -qxF "$p" "$tmp/paths" || missing+=("$p"); done
unit_path=""
for u in /usr/lib/systemd/system/vaultwatchd.service /lib/systemd/system/vaultwatchd.service; do
  grep -qxF "$u" "$tmp/paths" && unit_path="$u"
done
[ -n "$unit_path" ] || missing+=("/usr/lib/systemd/system/vaultwatchd.service (or /lib/systemd/system/)")
if [ ${#missing[@]} -gt 0 ]; then
  bad "the package lacks ${#missing[@]} file(s):"; printf '  %s\n' "${missing[@]}"
  echo "it holds:"; sed 's/^/  /' "$tmp/paths"
fi
outside="$(grep -v -e '^/$' -e '^/usr/' -e '^/usr$' -e '^/lib/systemd/' "$tmp/paths" || true)"
[ -z "$outside" ] || bad "files outside /usr: $outside"
! grep -q -e '/usr/local' -e "$build" "$tmp/paths" || bad "a path names /usr/local or the build directory"
for b in usr/bin/vaultwatchd usr/bin/vaultwatch-cli; do
  grep -Eq "^-rwxr-xr-x root/root .* \./$b\$" "$tmp/contents" || bad "$b is not -rwxr-xr-x root/root: $(grep " \./$b\$" "$tmp/contents" || true)"
done
echo "dpkg-deb -c: ${#expected[@]} expected files and the unit ($unit_path) present"

# --- the control fields --------------------------------------------------------------------------
field() { dpkg-deb -f "$deb" "$1"; }
version="$(sed -n 's/^project(vaultwatch VERSION \([0-9.]*\).*/\1/p' "$src/CMakeLists.txt")"
[ -n "$version" ] || bad "no project(vaultwatch VERSION ...) in $src/CMakeLists.txt"
[ "$(field Package)" = vaultwatch ] || bad "Package: $(field Package)"
[[ "$(field Version)" == "$version"* ]] || bad "Version: $(field Version), the project is $version"
if command -v dpkg >/dev/null; then
  [ "$(field Architecture)" = "$(dpkg --print-architecture)" ] || bad "Architecture: $(field Architecture)"
fi
name_email='^.+ <[^@ ]+@[^@ ]+>$'
[[ "$(field Maintainer)" =~ $name_email ]] || bad "Maintainer: '$(field Maintainer)' is not 'Name <email>'"
[ -n "$(field Description)" ] || bad "no Description"
depends="$(field Depends)"
for lib in libc6 libstdc++6 libsecp256k1 libzmq5 libssl3 libsystemd0 libboost-program-options; do
  [[ "$depends" == *"$lib"* ]] || bad "Depends lacks $lib: $depends"
done
dpkg-deb -I "$deb" >"$tmp/info"
for s in postinst prerm postrm; do
  grep -Eq "^ +[0-9]+ bytes, +[0-9]+ lines +\* +$s " "$tmp/info" || bad "no executable $s in the control archive"
done
echo "dpkg-deb -f: $(field Package) $(field Version) $(field Architecture); Depends: $depends"

# --- extracted: the binaries run, the unit names them -------------------------------------------
root="$tmp/root"
dpkg-deb -x "$deb" "$root"
"$root/usr/bin/vaultwatchd" --version >"$tmp/version" 2>&1 || bad "vaultwatchd --version: $(cat "$tmp/version")"
grep -qx "vaultwatchd $version" "$tmp/version" || bad "vaultwatchd --version says: $(cat "$tmp/version")"
"$root/usr/bin/vaultwatchd" --help >"$tmp/help" 2>&1 || bad "vaultwatchd --help: $(cat "$tmp/help")"
grep -q -- '--bitcoind.rpccookiefile' "$tmp/help" || bad "vaultwatchd --help lacks --bitcoind.rpccookiefile"
"$root/usr/bin/vaultwatch-cli" -help >"$tmp/clihelp" 2>&1 || bad "vaultwatch-cli -help: $(cat "$tmp/clihelp")"
echo "extracted: $(cat "$tmp/version"); vaultwatchd --help and vaultwatch-cli -help run"

unit="$root$unit_path"
if [ -n "$unit_path" ]; then
  execstart="$(sed -n 's/^ExecStart=//p' "$unit")"
  [[ "$execstart" == "/usr/bin/vaultwatchd "* ]] || bad "the packaged unit's ExecStart is not /usr/bin/vaultwatchd: $execstart"
  ! grep -n '^[^#]*/usr/local' "$unit" || bad "the packaged unit still names /usr/local"
  doc="$(sed -n 's|^Documentation=file://||p' "$unit")"
  if [ -z "$doc" ] || [ ! -f "$root$doc" ]; then bad "the unit's Documentation=file://$doc is not in the package"; fi
  grep -qx 'SupplementaryGroups=bitcoin' "$unit" || bad "the unit lacks SupplementaryGroups=bitcoin"
  grep -qx 'LimitCORE=0' "$unit" || bad "the unit lacks LimitCORE=0"
  echo "unit: ExecStart=$execstart"
  rc=0; bash "$src/tests/systemd_verify.sh" "$unit" "$root/usr/bin/vaultwatchd" || rc=$?
  if [ $rc -eq 77 ]; then echo "systemd-analyze not found: the unit is not verified"
  elif [ $rc -ne 0 ]; then bad "tests/systemd_verify.sh on the packaged unit"
  fi
fi

# --- dpkg -i into a throwaway root ---------------------------------------------------------------
# --root/--admindir keep dpkg away from this host's database and files; --force-script-chrootless
# runs the maintainer scripts on this host with DPKG_ROOT=<root> instead of chroot(2)ing into a
# root that has no /bin/sh: the scripts act on DPKG_ROOT only (systemd-sysusers/-tmpfiles --root)
# and call systemctl only when DPKG_ROOT is empty. --force-depends: the root's dpkg database
# holds none of the libraries. Unprivileged dpkg cannot chown to root:root, hence root or fakeroot.
wrap=()
if [ "$(id -u)" -ne 0 ]; then
  if command -v fakeroot >/dev/null; then wrap=(fakeroot); else wrap=(none); fi
fi
if ! command -v dpkg >/dev/null; then
  echo "dpkg not found: no dpkg -i into a throwaway root (dpkg-deb -x above only)"
elif [ "${wrap[*]:-}" = none ]; then
  echo "neither root nor fakeroot: no dpkg -i into a throwaway root (dpkg-deb -x above only)"
else
  r2="$tmp/dpkgroot"
  host_ids="$(cat /etc/passwd /etc/group | cksum)"
  mkdir -p "$r2/var/lib/dpkg/info" "$r2/var/lib/dpkg/updates" "$r2/etc"
  touch "$r2/var/lib/dpkg/status" "$r2/var/lib/dpkg/available"
  if ! ${wrap[@]+"${wrap[@]}"} dpkg --root="$r2" --admindir="$r2/var/lib/dpkg" --log=/dev/null \
       --force-not-root --force-bad-path --force-script-chrootless --force-depends -i "$deb" >"$tmp/dpkg.log" 2>&1; then
    cat "$tmp/dpkg.log"; bad "dpkg -i into a throwaway root"
  else
    status="$(dpkg --root="$r2" --admindir="$r2/var/lib/dpkg" -s vaultwatch 2>/dev/null | sed -n 's/^Status: //p')"
    [ "$status" = "install ok installed" ] || { cat "$tmp/dpkg.log"; bad "dpkg -s vaultwatch in the throwaway root: '$status'"; }
    if command -v systemd-sysusers >/dev/null; then
      grep -q '^vaultwatch:' "$r2/etc/passwd" 2>/dev/null || bad "the postinst made no vaultwatch user in the root's /etc/passwd"
      grep -q '^bitcoin:' "$r2/etc/group" 2>/dev/null || bad "the postinst made no bitcoin group in the root's /etc/group"
    fi
    if command -v systemd-tmpfiles >/dev/null; then
      [ "$(stat -c %a "$r2/var/lib/vaultwatch" 2>/dev/null)" = 700 ] || bad "the postinst made no /var/lib/vaultwatch 0700"
      [ "$(stat -c %a "$r2/etc/vaultwatch" 2>/dev/null)" = 750 ] || bad "the postinst made no /etc/vaultwatch 0750"
    fi
    [ "$(cat /etc/passwd /etc/group | cksum)" = "$host_ids" ] || bad "this host's /etc/passwd or /etc/group changed during dpkg -i --root"
    [ -x "$r2/usr/bin/vaultwatchd" ] || bad "dpkg -i left no executable /usr/bin/vaultwatchd in the root"
    echo "dpkg -i into a throwaway root: $status${wrap[*]:+ (under ${wrap[*]})}; the postinst made the user, the group and the directories"
  fi
fi

[ $fail -eq 0 ] || exit 1
echo "package_deb: ok"
