#!/usr/bin/env bash
# Tests the Debian packages on this machine (root, systemd not PID 1):
# lintian, systemd-analyze verify and security, install, upgrade over an
# edited conffile, remove and purge. Prints PASS/FAIL per check and ends with
# "N passed, M failed"; exits non-zero on any failure. Purges what it
# installed and removes the zonecast user it created, even on failure.
#
# Usage: scripts/test-deb.sh       (run by make test)
# Environment:
#   ZONECAST_SRC=DIR    package stand-in binaries (see scripts/deb.sh)
#   DEB_BOOT_TEST=1     also boot a Debian 12 system with systemd as PID 1
#                       (debootstrap + the systemd-nspawn of that system, ~3
#                       min, needs the debootstrap package) with PowerDNS and
#                       the packages installed, and check that the hardened
#                       units really run: the syncer creates its zones and
#                       writes a published record, the backup timer runs
#                       with it and its service writes a backup, the
#                       watcher reads LXD through the lxd group (when this
#                       host runs LXD), the signer makes its keys in its
#                       private state directory and signs.
set -uo pipefail
export LC_ALL=C.UTF-8 DEBIAN_FRONTEND=noninteractive

repo=$(cd "$(dirname "$0")/.." && pwd)
pkgs_all=(zonecast-syncer zonecast-watcher zonecast-gateway zonecast-signer zonecast-register)
pass=0 fail=0

ok()   { pass=$((pass + 1)); echo "PASS: $*"; }
bad()  { fail=$((fail + 1)); echo "FAIL: $*"; }
check() { # description command...
  local what=$1; shift
  if "$@" >/dev/null 2>&1; then ok "$what"; else bad "$what"; fi
}
installed() { # package -> true if dpkg knows it in any state but not-installed
  local st
  st=$(dpkg-query -W -f='${db:Status-Status}' "$1" 2>/dev/null) || return 1
  [ -n "$st" ] && [ "$st" != not-installed ]
}
# dpkg with a wait for the lock: other sessions may run apt-get meanwhile.
dpkg_() {
  local i out
  for i in $(seq 60); do
    if out=$(dpkg "$@" 2>&1); then printf '%s\n' "$out"; return 0; fi
    case "$out" in *"dpkg frontend lock"*|*"lock"*"held"*) sleep 2 ;; *) printf '%s\n' "$out" >&2; return 1 ;; esac
  done
  printf '%s\n' "$out" >&2; return 1
}

# ---- preconditions ------------------------------------------------------------
if [ "$(id -u)" != 0 ]; then echo "test-deb.sh: must run as root" >&2; exit 2; fi
for p in "${pkgs_all[@]}"; do
  if installed "$p"; then
    echo "test-deb.sh: $p is already installed here; refusing to purge it" >&2; exit 2
  fi
done
"$repo/scripts/deps.sh" deb

user_existed=0
getent passwd zonecast >/dev/null && user_existed=1
group_existed=0
getent group zonecast >/dev/null && group_existed=1
state_existed=0
[ -e /var/lib/zonecast ] && state_existed=1
etc_existed=0
[ -e /etc/zonecast ] && etc_existed=1
# The signer's and the register's state directories: real ones hold keys.
signer_state=(/var/lib/zonecast-signer /var/lib/private/zonecast-signer
  /var/lib/zonecast-register /var/lib/private/zonecast-register)
if [ $state_existed = 1 ] || [ $etc_existed = 1 ] || ls -d "${signer_state[@]}" >/dev/null 2>&1; then
  echo "test-deb.sh: /var/lib/zonecast, /etc/zonecast or ${signer_state[*]} exists; refusing to run" >&2; exit 2
fi

tmp=$(mktemp -d /tmp/zonecast-test-deb.XXXXXX)
nspawn_pid=""
cleanup() {
  local p left=() i
  if [ -n "$nspawn_pid" ] && kill -0 "$nspawn_pid" 2>/dev/null; then
    kill -TERM "$nspawn_pid"
    for i in $(seq 30); do kill -0 "$nspawn_pid" 2>/dev/null || break; sleep 1; done
    kill -0 "$nspawn_pid" 2>/dev/null && kill -KILL "$nspawn_pid"
  fi
  for p in "${pkgs_all[@]}"; do installed "$p" && left+=("$p"); done
  if [ ${#left[@]} -gt 0 ]; then
    echo "test-deb.sh: cleanup: purging ${left[*]}"
    dpkg_ --purge "${left[@]}" >/dev/null || true
  fi
  # Debian policy keeps the system user on purge; this test removes the one
  # it created, to leave the machine as it found it.
  if [ $user_existed = 0 ] && getent passwd zonecast >/dev/null; then
    deluser --system --quiet zonecast >/dev/null 2>&1 || userdel zonecast || true
  fi
  if [ $group_existed = 0 ] && getent group zonecast >/dev/null; then
    delgroup --system --quiet zonecast >/dev/null 2>&1 || groupdel zonecast || true
  fi
  [ $state_existed = 0 ] && rm -rf /var/lib/zonecast
  [ $etc_existed = 0 ] && rm -rf /etc/zonecast
  rm -rf "${signer_state[@]}" /run/zonecast-test-users.json
  # debootstrap may leave /proc or /sys mounted in its target if it failed.
  awk -v t="$tmp/" 'index($2, t) == 1 {print $2}' /proc/mounts | sort -r | xargs -r umount -l
  rm -rf "$tmp"
}
trap cleanup EXIT
trap 'exit 130' INT TERM

# ---- build --------------------------------------------------------------------
echo "== build"
if DEB_OUT="$tmp/v1" "$repo/scripts/deb.sh" >"$tmp/build1.log" 2>&1; then
  ok "scripts/deb.sh builds the packages"
else
  bad "scripts/deb.sh builds the packages"; cat "$tmp/build1.log"
fi
grep 'skipping' "$tmp/build1.log" || true
built=()
for p in "${pkgs_all[@]}"; do
  ls "$tmp/v1/${p}_"*_amd64.deb >/dev/null 2>&1 && built+=("$p")
done
echo "packages built: ${built[*]:-none}"
if [[ " ${built[*]:-} " == *" zonecast-syncer "* ]]; then ok "zonecast-syncer package built"; else bad "zonecast-syncer package built"; fi
if [ ${#built[@]} -eq 0 ]; then
  echo "$pass passed, $fail failed"; exit 1
fi
version1=$(dpkg-deb -f "$(ls "$tmp/v1/zonecast-syncer_"*_amd64.deb 2>/dev/null | head -1)" Version 2>/dev/null || echo none)
echo "version: $version1"
check "version $version1 is a valid Debian version" dpkg --validate-version "$version1"

elf_machine() { # deb file -> ELF e_machine of its binary (3e amd64, b7 arm64)
  rm -rf "$tmp/x" && dpkg-deb -x "$1" "$tmp/x" && od -An -tx1 -j18 -N1 "$tmp/x/usr/bin/$2" | tr -d ' \n'
}
for p in "${built[@]}"; do
  for arch in amd64 arm64; do
    deb=$(ls "$tmp/v1/${p}_"*"_$arch.deb" 2>/dev/null | head -1)
    if [ -z "$deb" ]; then bad "$p $arch package exists"; continue; fi
    want=3e; [ $arch = arm64 ] && want=b7
    if [ "$(dpkg-deb -f "$deb" Architecture)" = $arch ] && [ "$(elf_machine "$deb" "$p")" = $want ]; then
      ok "$p $arch: Architecture field and ELF machine match"
    else
      bad "$p $arch: Architecture field and ELF machine match"
    fi
  done
done

# ---- lintian ------------------------------------------------------------------
echo "== lintian"
for deb in "$tmp"/v1/*.deb; do
  name=$(basename "$deb")
  lintian --fail-on error --display-info "$deb" >"$tmp/lintian.out" 2>&1
  rc=$?
  out=$(grep -v 'running with root privileges' "$tmp/lintian.out")
  if [ "$rc" = 0 ]; then ok "lintian $name: no errors"; else bad "lintian $name: no errors"; fi
  tags=$(printf '%s\n' "$out" | grep -E '^[EWIP]: ' || true)
  if [ -n "$tags" ]; then printf '%s\n' "$tags" | sed 's/^/  /'; fi
  undocumented=""
  for t in $(printf '%s\n' "$tags" | awk '/^[EW]: /{print $3}' | sort -u); do
    grep -q -- "$t" "$repo/packaging/LINTIAN.md" || undocumented+=" $t"
  done
  if [ -z "$undocumented" ]; then ok "lintian $name: every warning documented in packaging/LINTIAN.md"
  else bad "lintian $name: undocumented warnings:$undocumented"; fi
done

# ---- systemd-analyze security (offline, from the repository's units) ----------
echo "== systemd-analyze security"
for p in "${pkgs_all[@]}" zonecast-export; do
  unit="$repo/systemd/$p.service"
  exposure=$(systemd-analyze security --offline=yes "$unit" 2>/dev/null |
    sed -n 's/.*Overall exposure level for [^:]*: \([0-9.]*\).*/\1/p')
  echo "  exposure $p: ${exposure:-unknown}"
  case $p in
  zonecast-watcher) [ -n "$exposure" ] && ok "security $p: exposure $exposure (printed only)" || bad "security $p: no figure" ;;
  *)
    if [ -n "$exposure" ] && awk -v e="$exposure" 'BEGIN{exit !(e <= 2.0)}'; then
      ok "security $p: exposure $exposure <= 2.0"
    else
      bad "security $p: exposure ${exposure:-unknown} <= 2.0"
    fi ;;
  esac
done

# ---- install ------------------------------------------------------------------
echo "== install $version1"
debs1=()
for p in "${built[@]}"; do debs1+=("$(ls "$tmp/v1/${p}_"*_amd64.deb | head -1)"); done
if [ ${#debs1[@]} -gt 0 ] && dpkg_ -i "${debs1[@]}" >"$tmp/install1.log" 2>&1; then
  ok "dpkg -i ${built[*]}"
else
  bad "dpkg -i ${built[*]:-}"; cat "$tmp/install1.log"
fi

mode_owner() { stat -c '%a %U:%G' "$1" 2>/dev/null; }
check "user zonecast exists and is a system user" \
  sh -c 'u=$(id -u zonecast) && [ "$u" -lt 1000 ] && [ "$(getent passwd zonecast | cut -d: -f6)" = /var/lib/zonecast ]'
check "group zonecast exists and is the user's primary group" \
  sh -c '[ "$(id -gn zonecast)" = zonecast ]'
check "user zonecast has no login shell" \
  sh -c 'case $(getent passwd zonecast | cut -d: -f7) in */nologin|*/false) ;; *) exit 1 ;; esac'
m=$(mode_owner /var/lib/zonecast)
[ "$m" = "750 zonecast:zonecast" ] && ok "/var/lib/zonecast is 750 zonecast:zonecast" || bad "/var/lib/zonecast is 750 zonecast:zonecast (got '$m')"
secret_files=(/etc/zonecast/nats-password /etc/zonecast/pdns-api-key /etc/zonecast/cluster-password)
[[ " ${built[*]} " == *" zonecast-watcher "* ]] && secret_files+=(/etc/zonecast/watcher-nats-password)
[[ " ${built[*]} " == *" zonecast-gateway "* ]] && secret_files+=(/etc/zonecast/gateway-nats-password)
[[ " ${built[*]} " == *" zonecast-signer "* ]] && secret_files+=(/etc/zonecast/signer-nats-password)
for f in "${secret_files[@]}"; do
  m=$(mode_owner $f)
  [ "$m" = "600 root:root" ] && ok "$f is 600 root:root" || bad "$f is 600 root:root (got '$m')"
done
for f in "${secret_files[@]}"; do
  case $f in */pdns-api-key | */cluster-password | */signer-nats-password) continue ;; esac
  check "$(basename "$f") holds a random 64-hex-digit password" grep -Eqx '[0-9a-f]{64}' "$f"
done
check "the zonecast user cannot read the syncer's NATS password" sh -c '! runuser -u zonecast -- cat /etc/zonecast/nats-password'
check "distinct passwords per daemon" \
  sh -c '[ "$(for f in /etc/zonecast/nats-password /etc/zonecast/*-nats-password; do cat "$f"; echo; done | sort | uniq -d)" = "" ]'
check "pdns-api-key is an empty placeholder" test ! -s /etc/zonecast/pdns-api-key
check "cluster-password is an empty placeholder" test ! -s /etc/zonecast/cluster-password
if [[ " ${built[*]} " == *" zonecast-signer "* ]]; then
  # The signer's user is one of the syncers' users file, not a local one.
  check "signer-nats-password is an empty placeholder" test ! -s /etc/zonecast/signer-nats-password
fi
for p in "${built[@]}"; do
  d=${p#zonecast-}
  m=$(mode_owner /usr/bin/$p)
  [ "$m" = "755 root:root" ] && ok "/usr/bin/$p is 755 root:root" || bad "/usr/bin/$p is 755 root:root (got '$m')"
  check "/lib/systemd/system/$p.service installed" test -f /lib/systemd/system/$p.service
  check "/etc/zonecast/$d.env installed, 644" sh -c "[ \"\$(stat -c %a /etc/zonecast/$d.env)\" = 644 ]"
  check "$p: /etc/zonecast/$d.env listed as conffile" \
    sh -c "dpkg-query -W -f='\${Conffiles}\n' $p | grep -q '^ /etc/zonecast/$d.env '"
  check "$p: no secret shipped (only the env file is a conffile)" \
    sh -c "[ \$(dpkg-query -W -f='\${Conffiles}\n' $p | grep -c .) = 1 ]"
  check "$p: copyright and changelog.Debian.gz" \
    test -s /usr/share/doc/$p/copyright -a -s /usr/share/doc/$p/changelog.Debian.gz
  check "$p: manual page" test -s /usr/share/man/man1/$p.1.gz
  check "$p: enabled (multi-user.target.wants link)" \
    test -L /etc/systemd/system/multi-user.target.wants/$p.service
  # Every option of --help is documented in the env file, and nothing else.
  "/usr/bin/$p" --help 2>&1 | grep -o 'env ZONECAST_[A-Z0-9_]*' | sed 's/^env //' | sort -u >"$tmp/help-$d"
  grep -o '^#\?ZONECAST_[A-Z0-9_]*=' "/etc/zonecast/$d.env" | tr -d '#=' | sort -u >"$tmp/env-$d"
  if [ -s "$tmp/help-$d" ] && diff "$tmp/help-$d" "$tmp/env-$d" >"$tmp/diff-$d"; then
    ok "$p: env file lists exactly the options of --help ($(wc -l <"$tmp/help-$d"))"
  else
    bad "$p: env file lists exactly the options of --help"; sed 's/^/  /' "$tmp/diff-$d"
  fi
done
if [[ " ${built[*]} " == *" zonecast-syncer "* ]]; then
  check "zonecast-syncer: alerting rules and their tests in /usr/share/zonecast/prometheus" \
    test -s /usr/share/zonecast/prometheus/zonecast.rules.yml -a -s /usr/share/zonecast/prometheus/zonecast.rules.test.yml
  check "zonecast-syncer: Grafana dashboard in /usr/share/zonecast/grafana" \
    python3 -c 'import json,sys; json.load(open(sys.argv[1]))' /usr/share/zonecast/grafana/zonecast-dashboard.json
  # promtool: scripts/deps.sh, group alerts.
  check "installed rules pass promtool check and test" \
    sh -c 'cd /usr/share/zonecast/prometheus && promtool check rules zonecast.rules.yml && promtool test rules zonecast.rules.test.yml'
fi
# The syncer's daily backup: a static service and a timer that the syncer
# wants (enabled, started with the syncer).
check "/lib/systemd/system/zonecast-export.service and .timer installed" \
  test -f /lib/systemd/system/zonecast-export.service -a -f /lib/systemd/system/zonecast-export.timer
check "zonecast-export.timer: enabled (zonecast-syncer.service.wants link)" \
  test -L /etc/systemd/system/zonecast-syncer.service.wants/zonecast-export.timer
check "zonecast-export.service: static (no enablement link)" \
  sh -c '! find /etc/systemd/system -name zonecast-export.service | grep -q .'
# Every Go module linked into a binary is covered by a Files: paragraph of
# the copyright file (which names modules, not package files).
mapfile -t patterns < <(awk '/^Files:/{sub(/^Files: */,""); print; f=1; next} f && /^ /{sub(/^ +/,""); print; next} {f=0}' \
  "$repo/packaging/copyright" | grep -vx '\*')
for p in "${built[@]}"; do
  missing=""
  for m in $(go version -m "/usr/bin/$p" 2>/dev/null | awk '$1=="dep"{print $2}'); do
    covered=0
    for pat in "${patterns[@]}"; do
      # shellcheck disable=SC2053 # $pat is a glob on purpose
      [[ "$m/x" == $pat ]] && { covered=1; break; }
    done
    [ $covered = 1 ] || missing+=" $m"
  done
  if [ -z "$missing" ]; then ok "$p: copyright covers every linked Go module"
  else bad "$p: copyright lacks Files: paragraphs for:$missing"; fi
done
# The git description deb.sh built from, as its changelog entry records it
# (the tree may have moved on since).
describe=$(zcat /usr/share/doc/zonecast-syncer/changelog.Debian.gz 2>/dev/null |
  sed -n 's/^  \* Build of \(.*\)\.$/\1/p' | head -1)
out=$(zonecast-syncer --version 2>&1)
[[ "$out" == *"$describe"* ]] && ok "zonecast-syncer --version runs: $out" || bad "zonecast-syncer --version runs (got '$out', want '$describe')"
out=$(runuser -u zonecast -- zonecast-syncer --version 2>&1)
[ $? = 0 ] && ok "zonecast-syncer --version runs as user zonecast" || bad "zonecast-syncer --version runs as user zonecast: $out"
if [[ " ${built[*]} " == *" zonecast-signer "* ]]; then
  out=$(zonecast-signer --version 2>&1)
  [[ "$out" == *"$describe"* ]] && ok "zonecast-signer --version runs: $out" || bad "zonecast-signer --version runs (got '$out', want '$describe')"
  check "zonecast-signer ds --help runs" sh -c 'zonecast-signer ds --help 2>&1 | grep -q "print the DS records"'
fi

# ---- systemd-analyze verify ---------------------------------------------------
echo "== systemd-analyze verify"
for p in "${pkgs_all[@]}"; do
  if [ -x /usr/bin/$p ]; then
    # Every unit the package installed, its binary and manual page.
    for u in $(dpkg-query -L $p | grep -E '^/lib/systemd/system/[^/]+\.(service|timer)$'); do
      if out=$(systemd-analyze verify "$u" 2>&1) && [ -z "$out" ]; then
        ok "systemd-analyze verify $(basename "$u") (installed)"
      else
        bad "systemd-analyze verify $(basename "$u") (installed)"; printf '  %s\n' "$out"
      fi
    done
  else
    # Not packaged yet: verify the repository's unit in a root holding the
    # system's units and a stand-in binary.
    vroot=$tmp/verify-root
    mkdir -p "$vroot/usr/bin" "$vroot/lib/systemd" "$vroot/etc"
    ln -sfn usr/bin "$vroot/bin"
    cp -a /lib/systemd/system "$vroot/lib/systemd/"
    cp /bin/kill "$vroot/usr/bin/kill"
    cp /bin/true "$vroot/usr/bin/$p"
    cp "$repo/systemd/$p.service" "$vroot/lib/systemd/system/"
    if out=$(systemd-analyze verify --man=no --root="$vroot" $p.service 2>&1) && [ -z "$out" ]; then
      ok "systemd-analyze verify $p.service (not packaged yet: repository unit, stand-in binary)"
    else
      bad "systemd-analyze verify $p.service"; printf '  %s\n' "$out"
    fi
  fi
done

# ---- the installed defaults: every daemon its own NATS user ---------------------
# There is no systemd as PID 1 here: run_unit starts a unit's ExecStart the
# way systemd would, as far as credentials, state and environment go (its
# LoadCredential= files copied to a directory only the service user reads,
# StateDirectory= with its mode, Environment= with %d, EnvironmentFile=,
# User=), plus test overrides. The service user is always zonecast (no
# DynamicUser= without systemd; the boot test checks that).
unit_env() { # unit: sets unit_vars (Environment=, EnvironmentFile=, less UnsetEnvironment=)
  local unit=/lib/systemd/system/$1.service creds=/run/zonecast-test-credentials-$1
  local line id path v keep
  unit_vars=()
  rm -rf "$creds"; mkdir -p "$creds"
  while IFS= read -r line; do
    case $line in
    LoadCredential=*)
      id=${line#LoadCredential=}; path=${id#*:}; id=${id%%:*}
      install -m 0400 -o zonecast -g zonecast "$path" "$creds/$id" ;;
    Environment=*) unit_vars+=("${line#Environment=}") ;;
    esac
  done <"$unit"
  chown zonecast:zonecast "$creds"; chmod 0500 "$creds"
  unit_vars=("${unit_vars[@]//%d/$creds}")
  while IFS= read -r line; do
    case $line in ZONECAST_*=*) unit_vars+=("$line") ;; esac
  done < <(sed -n 's/^EnvironmentFile=-\{0,1\}//p' "$unit" | xargs -r cat 2>/dev/null)
  for v in $(sed -n 's/^UnsetEnvironment=//p' "$unit"); do
    keep=()
    for line in "${unit_vars[@]}"; do [[ $line == "$v="* ]] || keep+=("$line"); done
    unit_vars=("${keep[@]}")
  done
}
state_dir() { # unit: makes its StateDirectory= (one) as systemd would, owned by zonecast
  local unit=/lib/systemd/system/$1.service sd mode
  sd=$(sed -n 's/^StateDirectory=//p' "$unit")
  mode=$(sed -n 's/^StateDirectoryMode=//p' "$unit")
  [ -n "$sd" ] && install -d -m "${mode:-0755}" -o zonecast -g zonecast "/var/lib/$sd"
  return 0
}
run_unit() { # unit log var=value...
  local unit=/lib/systemd/system/$1.service log=$2
  unit_env "$1"
  state_dir "$1"
  shift 2
  runuser -u zonecast -- env -i PATH=/usr/bin:/bin "${unit_vars[@]}" "$@" "$(sed -n 's/^ExecStart=//p' "$unit")" >"$log" 2>&1 &
  echo $!
}
# run_oneshot: a Type=oneshot unit's ExecStart= and ExecStartPost= lines in
# order, each through sh (they are /bin/sh -c lines whose only systemd
# escapes are $$ and %%), in WorkingDirectory=, after making
# StateDirectory= as systemd would; a minute each (TimeoutStartSec=, in
# short). Fails at the first failing line.
run_oneshot() { # unit log var=value...
  local unit=/lib/systemd/system/$1.service log=$2 line wd
  unit_env "$1"
  state_dir "$1"
  shift 2
  wd=$(sed -n 's/^WorkingDirectory=//p' "$unit")
  : >"$log"
  while IFS= read -r line; do
    line=${line//\$\$/\$}; line=${line//%%/%}
    (cd "${wd:-/}" && timeout 60 runuser -u zonecast -- env -i PATH=/usr/bin:/bin "${unit_vars[@]}" "$@" sh -c "$line") >>"$log" 2>&1 || return 1
  done < <(sed -n -e 's/^ExecStart=//p' -e 's/^ExecStartPost=//p' "$unit")
}
# http_get ADDR PATH: the body of GET http://ADDR/PATH on stdout; fails
# unless the status is 200 (bash's /dev/tcp: no curl needed).
http_get() {
  local resp
  exec 3<>"/dev/tcp/${1%:*}/${1##*:}" || return 1
  printf 'GET %s HTTP/1.0\r\nHost: %s\r\n\r\n' "$2" "$1" >&3
  resp=$(timeout 5 cat <&3); exec 3<&-
  [[ ${resp%%$'\r'*} == "HTTP/1."?" 200"* ]] || return 1
  printf '%s\n' "${resp#*$'\r\n\r\n'}"
}
has_signer=0
[[ " ${built[*]} " == *" zonecast-signer "* ]] && has_signer=1
if [[ " ${built[*]} " == *" zonecast-watcher "* ]] && [[ " ${built[*]} " == *" zonecast-gateway "* ]]; then
  echo "== installed defaults: least privilege"
  nport=$(shuf -i 20000-29999 -n 1); hport=$((nport + 1)) sport=$((nport + 2))
  echo test-key >/etc/zonecast/pdns-api-key # the syncer does not start with the empty placeholder
  # The zone and the NATS address in the env file, where zonecast-export
  # (below) reads them too; the file is put back afterwards.
  cp -p /etc/zonecast/syncer.env "$tmp/syncer.env.orig"
  printf '%s\n' ZONECAST_ZONE=lxd.example.org ZONECAST_NATS_LISTEN=127.0.0.1:$nport >>/etc/zonecast/syncer.env
  users=()
  if [ $has_signer = 1 ]; then
    # The signer's user, as the fleet's users file defines it, and its
    # password where the README says to put it (the file keeps 0600).
    head -c 32 /dev/urandom | od -An -tx1 | tr -d ' \n' >/etc/zonecast/signer-nats-password
    hash=$(zonecast-syncer passwd --password-file /etc/zonecast/signer-nats-password)
    install -m 0640 -o root -g zonecast /dev/null /run/zonecast-test-users.json
    printf '{"users": [{"user": "signer", "password_hash": "%s", "role": "signer", "origin": "signer", "zones": ["signed.example"]}]}\n' \
      "$hash" >/run/zonecast-test-users.json
    users=(ZONECAST_NATS_USERS_FILE=/run/zonecast-test-users.json)
  fi
  spid=$(run_unit zonecast-syncer "$tmp/syncer-run.log" \
    ZONECAST_HTTP_LISTEN=127.0.0.1:$hport ZONECAST_PDNS_URL=http://127.0.0.1:9 "${users[@]}")
  # Its HTTP endpoints come up once the stream exists.
  for i in $(seq 150); do (exec 3<>"/dev/tcp/127.0.0.1/$hport") 2>/dev/null && break; sleep 0.2; done
  nurl=nats://127.0.0.1:$nport
  origin=$(hostname | tr 'A-Z.' 'a-z-')
  nflags() { echo "--nats-url $nurl --nats-user $1 --nats-password-file /etc/zonecast/$1-nats-password"; }
  # shellcheck disable=SC2046 # nflags is split on purpose
  check "watcher user publishes its own origin ($origin) in the syncer's zone" \
    timeout 20 zonecast-syncer publish $(nflags watcher) --origin "$origin" --name c1.lxd.example.org --type A 192.0.2.1
  check "watcher user cannot publish another origin's subject" \
    sh -c "! timeout 20 zonecast-syncer publish --nats-url $nurl --nats-user watcher --nats-password-file /etc/zonecast/watcher-nats-password --origin other --name c2.lxd.example.org --type A 192.0.2.2"
  # shellcheck disable=SC2046
  check "gateway user opens its bucket" timeout 20 zonecast-gateway key list $(nflags gateway)
  check "watcher user cannot read the gateway's bucket" \
    sh -c "! timeout 20 zonecast-gateway key list --nats-url $nurl --nats-user watcher --nats-password-file /etc/zonecast/watcher-nats-password"
  check "gateway user cannot replace the watcher's records" \
    sh -c "! timeout 20 zonecast-syncer publish --nats-url $nurl --nats-user gateway --nats-password-file /etc/zonecast/gateway-nats-password --origin $origin --name c1.lxd.example.org --type A 192.0.2.9"
  check "the watcher unit loads only its own credential" \
    sh -c '[ "$(grep -c "^LoadCredential=" /lib/systemd/system/zonecast-watcher.service)" = 1 ] && grep -q "^LoadCredential=nats-password:/etc/zonecast/watcher-nats-password$" /lib/systemd/system/zonecast-watcher.service'
  dyn="watcher gateway" what="the watcher and the gateway"
  [ $has_signer = 1 ] && dyn+=" signer" what="the watcher, the gateway and the signer"
  check "$what run as users of their own (DynamicUser), not as zonecast" \
    sh -c "for u in $dyn; do grep -qx DynamicUser=yes /lib/systemd/system/zonecast-\$u.service && ! grep -q '^User=' /lib/systemd/system/zonecast-\$u.service || exit 1; done"
  check "the gateway unit loads only its own credential" \
    sh -c '[ "$(grep -c "^LoadCredential=" /lib/systemd/system/zonecast-gateway.service)" = 1 ] && grep -q "^LoadCredential=nats-password:/etc/zonecast/gateway-nats-password$" /lib/systemd/system/zonecast-gateway.service'

  # The signer with its unit's defaults (key directory, user signer, its
  # credential) and a zone: it makes the zone's keys in its state
  # directory, signs, publishes, and is ready.
  if [ $has_signer = 1 ]; then
    echo "== installed defaults: zonecast-signer"
    keys=/var/lib/zonecast-signer/keys
    cp -p /etc/zonecast/signer.env "$tmp/signer.env.orig"
    printf '%s\n' ZONECAST_ZONE=signed.example ZONECAST_NS=ns1.example.org ZONECAST_NATS_URL=$nurl >>/etc/zonecast/signer.env
    gpid=$(run_unit zonecast-signer "$tmp/signer-run.log" ZONECAST_HTTP_LISTEN=127.0.0.1:$sport)
    for i in $(seq 100); do http_get 127.0.0.1:$sport /readyz >/dev/null 2>&1 && break; sleep 0.2; done
    if http_get 127.0.0.1:$sport /readyz >/dev/null 2>&1; then
      ok "zonecast-signer connects as user signer with its credential and is ready"
    else
      bad "zonecast-signer ready"; sed 's/^/  /' "$tmp/signer-run.log"
    fi
    n=$(http_get 127.0.0.1:$sport /metrics 2>/dev/null | awk '$1 == "zonecast_signer_published_total" {print $2}')
    awk -v n="${n:-0}" 'BEGIN {exit !(n > 0)}' && ok "zonecast-signer published the signed zone ($n RRsets)" ||
      bad "zonecast-signer published the signed zone (zonecast_signer_published_total '${n:-none}')"
    check "zonecast-signer made a KSK and a ZSK in $keys" \
      sh -c "[ \$(ls $keys/Ksigned.example.+013+*.private | wc -l) = 2 ] && [ \$(ls $keys/Ksigned.example.+013+*.key | wc -l) = 2 ]"
    m=$(mode_owner /var/lib/zonecast-signer)
    [ "$m" = "700 zonecast:zonecast" ] && ok "/var/lib/zonecast-signer is 700 (StateDirectoryMode=), the service user's" ||
      bad "/var/lib/zonecast-signer is 700 zonecast:zonecast (got '$m')"
    m=$(mode_owner $keys)
    [ "$m" = "700 zonecast:zonecast" ] && ok "$keys is 700, the service user's" || bad "$keys is 700 zonecast:zonecast (got '$m')"
    check "$keys belongs to no regular user (uid < 1000 or systemd's dynamic range)" \
      sh -c "u=\$(stat -c %u $keys); [ \$u -lt 1000 ] || { [ \$u -ge 61184 ] && [ \$u -le 65519 ]; }"
    check "the private keys are 600" sh -c "! find $keys -name '*.private' ! -perm 600 | grep -q ."
    check "another user cannot list the keys" sh -c "! runuser -u nobody -- ls $keys"
    if zonecast-signer ds --zone signed.example >"$tmp/ds1" 2>&1 &&
       grep -Eq '^signed\.example\.[[:space:]]+[0-9]+[[:space:]]+IN[[:space:]]+DS[[:space:]]+[0-9]+ 13 2 [0-9A-F]{64}$' "$tmp/ds1"; then
      ok "zonecast-signer ds (as root, the unit's key directory) prints the zone's DS"
    else
      bad "zonecast-signer ds prints the zone's DS"; sed 's/^/  /' "$tmp/ds1"
    fi
    # The server says so at once (a denied publish is otherwise only never
    # acknowledged).
    check "signer user cannot publish record events (permissions violation)" \
      sh -c "timeout 8 zonecast-syncer publish --nats-url $nurl --nats-user signer --nats-password-file /etc/zonecast/signer-nats-password --origin signer --name www.signed.example --type A 192.0.2.5 2>&1 | grep -q 'Permissions Violation for Publish to .*zonecast\\.rr\\.signer\\.'"
    check "the signer unit loads only its own credential" \
      sh -c '[ "$(grep -c "^LoadCredential=" /lib/systemd/system/zonecast-signer.service)" = 1 ] && grep -q "^LoadCredential=nats-password:/etc/zonecast/signer-nats-password$" /lib/systemd/system/zonecast-signer.service'
    kill -TERM "$gpid" 2>/dev/null; for i in $(seq 50); do kill -0 "$gpid" 2>/dev/null || break; sleep 0.2; done
    if kill -0 "$gpid" 2>/dev/null; then kill -KILL "$gpid"; bad "signer stopped on SIGTERM"; else ok "signer stopped on SIGTERM"; fi
    cp -p "$tmp/signer.env.orig" /etc/zonecast/signer.env
    rm -f /run/zonecast-test-users.json
  fi

  # The backup unit, as the timer runs it: the syncer's credential and env
  # file, every zone of the stream (not only ZONECAST_ZONE), a dated hard
  # link per run, copies older than BACKUP_KEEP_DAYS removed.
  echo "== installed defaults: zonecast-export"
  check "the syncer's own user publishes into a zone the syncer does not serve" \
    timeout 20 zonecast-syncer publish --nats-url "$nurl" --nats-password-file /etc/zonecast/nats-password \
      --origin ops --name www.other.example --type A 192.0.2.3
  bk=/var/lib/zonecast/backup
  install -d -m 0700 -o zonecast -g zonecast $bk
  runuser -u zonecast -- touch -d '20 days ago' $bk/desired-old.jsonl
  runuser -u zonecast -- touch -d '3 days ago' $bk/desired-recent.jsonl
  if run_oneshot zonecast-export "$tmp/export-run.log"; then
    ok "zonecast-export runs: $(grep -o 'exported [0-9]* contributions' "$tmp/export-run.log")"
  else
    bad "zonecast-export runs"; sed 's/^/  /' "$tmp/export-run.log"
  fi
  m=$(mode_owner $bk/desired.jsonl)
  [ "$m" = "600 zonecast:zonecast" ] && ok "$bk/desired.jsonl is 600 zonecast:zonecast" || bad "$bk/desired.jsonl is 600 zonecast:zonecast (got '$m')"
  check "the backup holds the syncer's zone (at ZONECAST_NATS_LISTEN of syncer.env)" grep -q 'c1\.lxd\.example\.org' $bk/desired.jsonl
  check "the backup holds every zone of the stream, not only ZONECAST_ZONE" grep -q 'www\.other\.example' $bk/desired.jsonl
  first=$(ls $bk/desired-2*Z.jsonl 2>/dev/null | head -1)
  check "a dated copy desired-<UTC time>.jsonl, a hard link of desired.jsonl" \
    sh -c "[ -n '$first' ] && [ \"\$(stat -c %i '$first')\" = \"\$(stat -c %i $bk/desired.jsonl)\" ]"
  check "a copy older than BACKUP_KEEP_DAYS (14) removed" test ! -e $bk/desired-old.jsonl
  check "a copy younger than BACKUP_KEEP_DAYS kept" test -e $bk/desired-recent.jsonl
  sleep 1.1
  run_oneshot zonecast-export "$tmp/export-run2.log"
  check "a second run: a new desired.jsonl and a second dated copy, the first one kept" \
    sh -c "[ \$(ls $bk/desired-2*Z.jsonl | wc -l) = 2 ] && [ \"\$(stat -c %h '$first')\" = 1 ] && [ \"\$(stat -c %h $bk/desired.jsonl)\" = 2 ]"
  check "the restore reads the backup back (publish --json)" \
    sh -c "timeout 20 zonecast-syncer publish --json $bk/desired.jsonl --nats-url $nurl --nats-password-file /etc/zonecast/nats-password 2>&1 | grep -q 'published 2 messages'"

  kill -TERM "$spid" 2>/dev/null; for i in $(seq 50); do kill -0 "$spid" 2>/dev/null || break; sleep 0.2; done
  kill -0 "$spid" 2>/dev/null && { kill -KILL "$spid"; bad "syncer stopped on SIGTERM"; }
  rm -rf /var/lib/zonecast/jetstream /run/zonecast-test-credentials-*
  cp -p "$tmp/syncer.env.orig" /etc/zonecast/syncer.env
fi

# ---- zonecast-register with its unit's defaults ---------------------------------
# No gateway answers here: it makes its key in its state directory, keeps
# retrying, and stops on SIGTERM.
if [[ " ${built[*]} " == *" zonecast-register "* ]]; then
  echo "== installed defaults: zonecast-register"
  rport=$(shuf -i 30000-39999 -n 1)
  rpid=$(run_unit zonecast-register "$tmp/register-run.log" ZONECAST_ZONE=lan.example.org \
    ZONECAST_GATEWAY=127.0.0.1:$rport ZONECAST_NAME=pkgtest)
  rdir=/var/lib/zonecast-register
  for i in $(seq 50); do ls $rdir/Kpkgtest.lan.example.org.+013+*.private >/dev/null 2>&1 && break; sleep 0.2; done
  check "zonecast-register made its key in $rdir (BIND's K*.key and K*.private)" \
    sh -c "ls $rdir/Kpkgtest.lan.example.org.+013+*.private && ls $rdir/Kpkgtest.lan.example.org.+013+*.key"
  check "the private key is 600" sh -c "! find $rdir -name '*.private' ! -perm 600 | grep -q ."
  m=$(mode_owner $rdir)
  [ "$m" = "700 zonecast:zonecast" ] && ok "$rdir is 700 (StateDirectoryMode=), the service user's" ||
    bad "$rdir is 700 zonecast:zonecast (got '$m')"
  check "zonecast-register keeps running while no gateway answers" kill -0 "$rpid"
  check "the register unit loads no credential" sh -c '! grep -q "^LoadCredential=" /lib/systemd/system/zonecast-register.service'
  kill -TERM "$rpid" 2>/dev/null; for i in $(seq 100); do kill -0 "$rpid" 2>/dev/null || break; sleep 0.2; done
  if kill -0 "$rpid" 2>/dev/null; then kill -KILL "$rpid"; bad "register stopped on SIGTERM"; else ok "register stopped on SIGTERM"; fi
  grep -q 'PRIVATE\|PrivateKey' "$tmp/register-run.log" && bad "the register log holds no private key" || ok "the register log holds no private key"
fi

# ---- upgrade over an edited conffile ------------------------------------------
echo "== upgrade"
echo "ZONECAST_LOG_LEVEL=debug" >>/etc/zonecast/syncer.env
edited_sum=$(md5sum </etc/zonecast/syncer.env)
pw_sum=$(md5sum </etc/zonecast/nats-password)
echo "test-key" >/etc/zonecast/pdns-api-key
uid1=$(id -u zonecast)
if DEB_OUT="$tmp/v2" DEB_ARCHES=amd64 DEB_REVISION=2 DEB_ENV_NOTE="changed by the upgrade test" \
    "$repo/scripts/deb.sh" >"$tmp/build2.log" 2>&1; then
  ok "second build (revision 2, changed env files)"
else
  bad "second build"; cat "$tmp/build2.log"
fi
version2=$(dpkg-deb -f "$(ls "$tmp/v2/zonecast-syncer_"*_amd64.deb 2>/dev/null | head -1)" Version 2>/dev/null || echo none)
check "version $version2 > $version1" dpkg --compare-versions "$version2" gt "$version1"
debs2=()
for p in "${built[@]}"; do debs2+=("$(ls "$tmp/v2/${p}_"*_amd64.deb | head -1)"); done
if [ ${#debs2[@]} -gt 0 ] && dpkg_ --force-confold -i "${debs2[@]}" </dev/null >"$tmp/install2.log" 2>&1; then
  ok "dpkg --force-confold -i (upgrade, non-interactive)"
else
  bad "dpkg --force-confold -i (upgrade)"; cat "$tmp/install2.log"
fi
check "zonecast-syncer $version2 installed" \
  sh -c "[ \"\$(dpkg-query -W -f='\${Version}' zonecast-syncer)\" = '$version2' ]"
[ "$(md5sum </etc/zonecast/syncer.env)" = "$edited_sum" ] && ok "edited conffile kept" || bad "edited conffile kept"
check "new conffile beside it as syncer.env.dpkg-dist" grep -q 'changed by the upgrade test' /etc/zonecast/syncer.env.dpkg-dist
[ "$(md5sum </etc/zonecast/nats-password)" = "$pw_sum" ] && ok "nats-password kept" || bad "nats-password kept"
check "pdns-api-key kept" grep -qx test-key /etc/zonecast/pdns-api-key
if [ $has_signer = 1 ] && [ -s "$tmp/ds1" ]; then
  check "signer-nats-password kept" test -s /etc/zonecast/signer-nats-password
  check "the signer's keys kept (the same DS)" sh -c "zonecast-signer ds --zone signed.example | cmp -s - '$tmp/ds1'"
fi
[ "$(id -u zonecast)" = "$uid1" ] && ok "user zonecast kept its uid" || bad "user zonecast kept its uid"

# ---- remove, then purge -------------------------------------------------------
echo "== remove and purge"
if dpkg_ --remove zonecast-syncer >/dev/null; then ok "dpkg --remove zonecast-syncer"; else bad "dpkg --remove zonecast-syncer"; fi
check "removed: binary gone" test ! -e /usr/bin/zonecast-syncer
check "removed: conffile kept" test -f /etc/zonecast/syncer.env
check "removed: zonecast-export.service and .timer gone" \
  test ! -e /lib/systemd/system/zonecast-export.service -a ! -e /lib/systemd/system/zonecast-export.timer
check "removed: state 'config-files'" \
  sh -c "[ \"\$(dpkg-query -W -f='\${db:Status-Status}' zonecast-syncer)\" = config-files ]"
if dpkg_ --purge zonecast-syncer >/dev/null; then ok "dpkg --purge zonecast-syncer"; else bad "dpkg --purge zonecast-syncer"; fi
check "purged syncer: syncer.env and .dpkg-dist gone" \
  sh -c '! ls /etc/zonecast/syncer.env* 2>/dev/null | grep -q .'
check "purged syncer: its own secrets pdns-api-key, nats-password and cluster-password gone" \
  sh -c 'test ! -e /etc/zonecast/pdns-api-key && test ! -e /etc/zonecast/nats-password && test ! -e /etc/zonecast/cluster-password'
if [ ${#built[@]} -gt 1 ]; then
  check "purged syncer: watcher-nats-password kept for ${built[*]:1}" test -s /etc/zonecast/watcher-nats-password
  check "purged syncer: /var/lib/zonecast kept for ${built[*]:1}" test -d /var/lib/zonecast
  if [ $has_signer = 1 ]; then
    check "purged syncer: signer-nats-password kept for zonecast-signer" test -e /etc/zonecast/signer-nats-password
    check "purged syncer: the signer's keys kept" test -d /var/lib/zonecast-signer/keys
  fi
  if dpkg_ --purge "${built[@]:1}" >/dev/null; then ok "dpkg --purge ${built[*]:1}"; else bad "dpkg --purge ${built[*]:1}"; fi
fi
for p in "${pkgs_all[@]}"; do
  check "purged: $p not installed" sh -c "! dpkg-query -W -f='\${db:Status-Status}' $p 2>/dev/null | grep -qv not-installed"
done
check "purged: /etc/zonecast gone" test ! -e /etc/zonecast
check "purged: /var/lib/zonecast gone" test ! -e /var/lib/zonecast
if [ $has_signer = 1 ]; then
  check "purged: the signer's state directory (its keys) gone" \
    sh -c '! ls -d /var/lib/zonecast-signer /var/lib/private/zonecast-signer 2>/dev/null | grep -q .'
fi
if [[ " ${built[*]} " == *" zonecast-register "* ]]; then
  check "purged: the register's state directory (its key) gone" \
    sh -c '! ls -d /var/lib/zonecast-register /var/lib/private/zonecast-register 2>/dev/null | grep -q .'
fi
check "purged: zonecast-export.timer's enablement gone" \
  sh -c '! ls -d /etc/systemd/system/zonecast-syncer.service.wants /var/lib/systemd/deb-systemd-helper-*/zonecast-export.timer* 2>/dev/null | grep -q .'
check "purged: no unit files or enablement links left" \
  sh -c '! find /etc/systemd /lib/systemd/system /var/lib/systemd -name "zonecast-*" 2>/dev/null | grep -q .'
check "purged: no binaries left" sh -c '! ls /usr/bin/zonecast-* 2>/dev/null | grep -q .'
if getent passwd zonecast >/dev/null; then
  ok "purged: user zonecast stays (Debian policy keeps system users; this test removes it afterwards)"
else
  bad "purged: user zonecast stays"
fi

# ---- optional: boot with systemd as PID 1 -------------------------------------
boot_test() {
  local root=$tmp/boot-root lib cpid i
  if ! command -v debootstrap >/dev/null; then
    bad "boot test: debootstrap is not installed (apt-get install debootstrap)"; return
  fi
  echo "== boot test (debootstrap, systemd-nspawn)"
  if debootstrap --variant=minbase \
      --include=systemd,systemd-sysv,dbus,systemd-container,pdns-server,pdns-backend-sqlite3,sqlite3,curl,procps,adduser \
      bookworm "$root" http://deb.debian.org/debian >"$tmp/debootstrap.log" 2>&1; then
    ok "boot test: debootstrap bookworm with systemd and PowerDNS"
  else
    bad "boot test: debootstrap"; tail -5 "$tmp/debootstrap.log"; return
  fi
  cp "${debs1[@]}" "$root/root/"
  if chroot "$root" sh -c 'dpkg -i /root/*.deb' >"$tmp/boot-dpkg.log" 2>&1; then
    ok "boot test: packages install in the booted system"
  else
    bad "boot test: packages install"; cat "$tmp/boot-dpkg.log"; return
  fi
  # PowerDNS with gsqlite3 and the API, as the README describes.
  cat >"$root/root/setup.sh" <<'SETUP'
set -e
rm -f /etc/powerdns/pdns.d/bind.conf
sqlite3 /var/lib/powerdns/pdns.sqlite3 </usr/share/pdns-backend-sqlite3/schema/schema.sqlite3.sql
chown pdns:pdns /var/lib/powerdns/pdns.sqlite3
printf '%s\n' launch=gsqlite3 gsqlite3-database=/var/lib/powerdns/pdns.sqlite3 local-address=127.0.0.1 api=yes webserver=yes \
  webserver-address=127.0.0.1 webserver-port=8081 webserver-allow-from=127.0.0.1/32 security-poll-suffix= \
  >/etc/powerdns/pdns.d/zonecast.conf
key=$(head -c 32 /dev/urandom | od -An -tx1 | tr -d ' \n')
install -m 0640 -o root -g pdns /dev/null /etc/powerdns/pdns.d/api-key.conf
printf 'api-key=%s\n' "$key" >/etc/powerdns/pdns.d/api-key.conf
printf '%s\n' "$key" >/etc/zonecast/pdns-api-key
printf 'X-API-Key: %s\n' "$key" >/root/api-header
printf '%s\n' ZONECAST_ZONE=lxd.example.org,99.10.in-addr.arpa ZONECAST_NS=ns1.example.org >>/etc/zonecast/syncer.env
printf '%s\n' ZONECAST_ZONE=lxd.example.org >>/etc/zonecast/watcher.env
if [ -f /etc/zonecast/gateway.env ]; then
  printf '%s\n' ZONECAST_ZONE=dyn.example.org ZONECAST_DNS_LISTEN=127.0.0.2:53 >>/etc/zonecast/gateway.env
fi
if [ -f /etc/zonecast/signer.env ]; then
  # The signer's user in the syncer's users file, its password where the
  # README puts it.
  head -c 32 /dev/urandom | od -An -tx1 | tr -d ' \n' >/etc/zonecast/signer-nats-password
  hash=$(zonecast-syncer passwd --password-file /etc/zonecast/signer-nats-password)
  install -m 0640 -o root -g zonecast /dev/null /etc/zonecast/users.json
  printf '{"users": [{"user": "signer", "password_hash": "%s", "role": "signer", "origin": "signer", "zones": ["signed.example.org"]}]}\n' \
    "$hash" >/etc/zonecast/users.json
  printf '%s\n' ZONECAST_NATS_USERS_FILE=/etc/zonecast/users.json >>/etc/zonecast/syncer.env
  printf '%s\n' ZONECAST_ZONE=signed.example.org ZONECAST_NS=ns1.example.org >>/etc/zonecast/signer.env
fi
SETUP
  chroot "$root" sh /root/setup.sh
  local bind=()
  local lxd_dir=${LXD_DIR:-/var/lib/lxd}
  if [ -S "$lxd_dir/unix.socket" ] && getent group lxd >/dev/null; then
    chroot "$root" groupadd -g "$(getent group lxd | cut -d: -f3)" lxd
    bind=(--bind-ro="$lxd_dir:/var/lib/lxd")
  fi
  # The booted system's own systemd-nspawn: this host has no systemd to ask.
  lib=$root/usr/lib/x86_64-linux-gnu
  setsid "$root/lib64/ld-linux-x86-64.so.2" --library-path "$lib:$lib/systemd" \
    "$root/usr/bin/systemd-nspawn" -D "$root" --register=no --keep-unit --private-network \
    "${bind[@]}" --console=read-only -b >"$tmp/nspawn.log" 2>&1 &
  nspawn_pid=$!
  cpid=""
  for i in $(seq 60); do
    cpid=$(pgrep -P "$nspawn_pid" | head -1)
    [ -n "$cpid" ] && nsenter -t "$cpid" -a systemctl is-active -q zonecast-syncer 2>/dev/null && break
    sleep 1
  done
  in_c() { nsenter -t "$cpid" -a "$@"; }
  if [ -n "$cpid" ] && in_c systemctl is-active -q zonecast-syncer; then
    ok "boot test: zonecast-syncer.service active under systemd"
  else
    bad "boot test: zonecast-syncer.service active"; tail -20 "$tmp/nspawn.log"
    [ -n "$cpid" ] && in_c journalctl -u zonecast-syncer --no-pager -n 20
    return
  fi
  for i in $(seq 20); do in_c curl -sf -o /dev/null 127.0.0.1:9470/readyz && break; sleep 0.5; done
  check "boot test: /readyz answers 200" in_c curl -sf -o /dev/null 127.0.0.1:9470/readyz
  check "boot test: /metrics answers 200" in_c curl -sf -o /dev/null 127.0.0.1:9470/metrics
  check "boot test: publish through the embedded NATS with /etc/zonecast/nats-password" \
    in_c zonecast-syncer publish --nats-password-file /etc/zonecast/nats-password \
      --name boot.lxd.example.org --type A --origin ops 192.0.2.7
  local found=0
  for i in $(seq 20); do
    if in_c curl -sf -H @/root/api-header \
        'http://127.0.0.1:8081/api/v1/servers/localhost/zones/lxd.example.org.' | grep -q '192.0.2.7'; then
      found=1; break
    fi
    sleep 0.5
  done
  [ $found = 1 ] && ok "boot test: the published record is in PowerDNS" || bad "boot test: the published record is in PowerDNS"
  in_c systemctl reload zonecast-syncer
  sleep 1
  check "boot test: systemctl reload requests a reconcile (SIGHUP)" \
    sh -c "nsenter -t $cpid -a journalctl -u zonecast-syncer --no-pager -o cat | grep -q 'reconciliation requested'"
  local st
  st=$(in_c sh -c 'grep -E "^(CapEff|CapBnd|NoNewPrivs|Seccomp):" /proc/$(pidof zonecast-syncer)/status' | tr -s ' \t' ' ' | tr '\n' ' ')
  [[ "$st" == *"CapEff: 0000000000000000"*"CapBnd: 0000000000000000"*"NoNewPrivs: 1"*"Seccomp: 2"* ]] &&
    ok "boot test: syncer runs without capabilities, no_new_privs, seccomp filter" ||
    bad "boot test: syncer sandbox ($st)"
  check "boot test: syncer runs as zonecast" sh -c "[ \"\$(nsenter -t $cpid -a ps -o user= -C zonecast-syncer)\" = zonecast ]"
  echo "  online exposure: $(in_c systemd-analyze security zonecast-syncer --no-pager 2>/dev/null | tail -1)"
  # The backup: its timer came up with the syncer; the sandboxed service
  # writes the state directory's backup/ and nothing else.
  check "boot test: zonecast-export.timer active with the syncer" in_c systemctl is-active -q zonecast-export.timer
  if in_c systemctl start zonecast-export && in_c grep -q 'boot\.lxd\.example\.org' /var/lib/zonecast/backup/desired.jsonl &&
     in_c sh -c 'ls /var/lib/zonecast/backup/desired-2*Z.jsonl' >/dev/null 2>&1; then
    ok "boot test: systemctl start zonecast-export writes desired.jsonl and a dated copy"
  else
    bad "boot test: systemctl start zonecast-export"; in_c journalctl -u zonecast-export --no-pager -n 20
  fi
  echo "  online exposure: $(in_c systemd-analyze security zonecast-export --no-pager 2>/dev/null | tail -1)"
  if [ -f "$root/etc/zonecast/gateway.env" ]; then
    for i in $(seq 20); do in_c systemctl is-active -q zonecast-gateway && break; sleep 0.5; done
    sleep 2
    st=$(in_c sh -c 'grep -E "^(CapEff|CapBnd):" /proc/$(pidof zonecast-gateway)/status' 2>/dev/null | tr -s ' \t' ' ' | tr '\n' ' ')
    if in_c systemctl is-active -q zonecast-gateway &&
       [[ "$st" == *"CapEff: 0000000000000400"*"CapBnd: 0000000000000400"* ]] &&
       in_c sh -c 'grep -q ":0035 " /proc/net/udp'; then
      ok "boot test: zonecast-gateway runs as its own dynamic user on port 53 with CAP_NET_BIND_SERVICE only"
    else
      bad "boot test: zonecast-gateway on port 53 ($st)"; in_c journalctl -u zonecast-gateway --no-pager -n 20
    fi
    echo "  online exposure: $(in_c systemd-analyze security zonecast-gateway --no-pager 2>/dev/null | tail -1)"
  fi
  if [ -f "$root/etc/zonecast/signer.env" ]; then
    # Started at boot (enabled); it may have restarted while the syncer's
    # NATS server came up.
    for i in $(seq 40); do in_c curl -sf -o /dev/null 127.0.0.1:9473/readyz && break; sleep 0.5; done
    if in_c curl -sf -o /dev/null 127.0.0.1:9473/readyz; then
      ok "boot test: zonecast-signer ready under systemd (keys made, zone signed, published as user signer)"
    else
      bad "boot test: zonecast-signer ready"; in_c journalctl -u zonecast-signer --no-pager -n 20
    fi
    st=$(in_c sh -c 'grep -E "^(CapEff|CapBnd|NoNewPrivs|Seccomp):" /proc/$(pidof zonecast-signer)/status' 2>/dev/null | tr -s ' \t' ' ' | tr '\n' ' ')
    [[ "$st" == *"CapEff: 0000000000000000"*"CapBnd: 0000000000000000"*"NoNewPrivs: 1"*"Seccomp: 2"* ]] &&
      ok "boot test: signer runs without capabilities, no_new_privs, seccomp filter" ||
      bad "boot test: signer sandbox ($st)"
    # DynamicUser=: the state directory is systemd's, under /var/lib/private
    # (0700 root), with /var/lib/zonecast-signer a link to it.
    local sd=/var/lib/private/zonecast-signer su
    su=$(in_c stat -c %u $sd 2>/dev/null)
    check "boot test: signer runs as the dynamic user that owns its state directory ($su)" \
      sh -c "[ \"\$(nsenter -t $cpid -a ps -o uid= -C zonecast-signer | tr -d ' ')\" = '$su' ]"
    check "boot test: $sd is 700, owned by the dynamic uid $su (61184-65519), /var/lib/zonecast-signer links to it" \
      sh -c "[ \"\$(nsenter -t $cpid -a stat -c '%a %u' $sd)\" = '700 $su' ] && [ '$su' -ge 61184 ] && [ '$su' -le 65519 ] &&
        [ \"\$(nsenter -t $cpid -a readlink /var/lib/zonecast-signer)\" = private/zonecast-signer ]"
    check "boot test: the key directory is 700 and the private keys 600, all the dynamic user's" \
      sh -c "[ \"\$(nsenter -t $cpid -a stat -c '%a %u' $sd/keys)\" = '700 $su' ] &&
        [ \$(nsenter -t $cpid -a find $sd/keys -name '*.private' -perm 600 -uid '$su' | wc -l) = 2 ]"
    in_c zonecast-signer ds --zone signed.example.org >"$tmp/boot-ds1" 2>&1
    check "boot test: zonecast-signer ds (as root) prints the zone's DS" grep -q '	DS	' "$tmp/boot-ds1"
    in_c systemctl restart zonecast-signer
    for i in $(seq 40); do in_c curl -sf -o /dev/null 127.0.0.1:9473/readyz && break; sleep 0.5; done
    check "boot test: after a restart the signer is ready with the same keys" \
      sh -c "nsenter -t $cpid -a curl -sf -o /dev/null 127.0.0.1:9473/readyz && nsenter -t $cpid -a zonecast-signer ds --zone signed.example.org | cmp -s - '$tmp/boot-ds1'"
    # A rollover started by root, as the README says: the files it wrote
    # given to the service's user, then a reload.
    in_c zonecast-signer rollover --zone signed.example.org --key zsk >/dev/null 2>&1
    in_c chown -R --reference=/var/lib/zonecast-signer /var/lib/zonecast-signer/keys
    in_c systemctl reload zonecast-signer
    sleep 2
    check "boot test: a rollover by root, chown and systemctl reload (SIGHUP): the new ZSK published" \
      sh -c "nsenter -t $cpid -a systemctl is-active -q zonecast-signer &&
        nsenter -t $cpid -a curl -sf 127.0.0.1:9473/metrics | grep -q 'zonecast_signer_key_info{.*role=\"zsk\",state=\"published\"'"
    echo "  online exposure: $(in_c systemd-analyze security zonecast-signer --no-pager 2>/dev/null | tail -1)"
  fi
  if [ ${#bind[@]} -gt 0 ]; then
    for i in $(seq 20); do in_c systemctl is-active -q zonecast-watcher && break; sleep 0.5; done
    sleep 2
    if in_c systemctl is-active -q zonecast-watcher &&
       in_c journalctl -u zonecast-watcher --no-pager -o cat | grep -q 'first full sync published'; then
      ok "boot test: zonecast-watcher reads LXD through the lxd group and publishes"
    else
      bad "boot test: zonecast-watcher"; in_c journalctl -u zonecast-watcher --no-pager -n 20
    fi
  else
    echo "  (no LXD on this host: watcher not checked)"
  fi
  in_c systemctl stop zonecast-syncer
  check "boot test: zonecast-export.timer stops with the syncer (PartOf)" \
    sh -c "! nsenter -t $cpid -a systemctl is-active -q zonecast-export.timer"
}
if [ "${DEB_BOOT_TEST:-0}" = 1 ]; then
  # Reinstall nothing on the host: the boot test uses its own system.
  boot_test
fi

echo "$pass passed, $fail failed"
[ "$fail" = 0 ]
