#!/usr/bin/env bash
# Builds one Debian package per daemon into dist/: zonecast-syncer,
# zonecast-watcher, zonecast-gateway, zonecast-signer and zonecast-register
# (a daemon whose
# cmd/<name> has no Go file yet is skipped), for amd64 and arm64.
#
# The packages are assembled with dpkg-deb. nfpm (v2.48.0 through `go run`)
# was the first choice but does not build here: its CLI imports the rpm and
# msix packagers, whose modules go.digitalxero.dev/rpm v0.3.4 and
# go.digitalxero.dev/go-msix v1.0.1 the module proxy refuses (403). dpkg-deb
# is Debian's own tool and needs nothing from the network.
#
# Usage: scripts/deb.sh            (make deb)
# Environment:
#   DEB_ARCHES      architectures to build (default "amd64 arm64")
#   DEB_VERSION     full Debian version (default: from `git describe`, below)
#   DEB_REVISION    Debian revision of the default version (default 1)
#   DEB_MAINTAINER  Maintainer field
#   DEB_OUT         output directory (default dist)
#   DEB_DAEMONS     daemons to package (default "syncer watcher gateway signer register"; a
#                   daemon whose cmd/<name> has no Go file is skipped, one
#                   that fails to build fails the whole run)
#   ZONECAST_SRC    Go module holding cmd/<daemon> (default: this repository;
#                   a test hook to package stand-in binaries)
#   DEB_ENV_NOTE    test hook: a comment line appended to every env file, to
#                   make a build whose conffiles differ from the previous one
set -euo pipefail
umask 022
export LC_ALL=C.UTF-8

repo=$(cd "$(dirname "$0")/.." && pwd)
src=${ZONECAST_SRC:-$repo}
out=${DEB_OUT:-$repo/dist}
arches=${DEB_ARCHES:-amd64 arm64}
maintainer=${DEB_MAINTAINER:-zonecast developers <zonecast@users.noreply.github.com>}
GO=${GO:-go}

# ---- version ------------------------------------------------------------------
# git describe -> Debian version (upstream part; revision DEB_REVISION):
#   v1.2.3                  -> 1.2.3
#   v1.2.3-4-gabc1234       -> 1.2.3+git20250102T030405.4.abc1234
#   abc1234 (no tag yet)    -> 0.0.0~git20250102T030405.abc1234
#   ... -dirty              -> ....dirty
# The commit time (UTC) keeps versions of later commits higher.
describe=$(git -C "$repo" describe --tags --always --dirty 2>/dev/null || echo unknown)
commit_epoch=$(git -C "$repo" log -1 --format=%ct 2>/dev/null || date +%s)
stamp=$(date -u -d "@$commit_epoch" +%Y%m%dT%H%M%S)
debian_version() {
  local d=$1 dirty=""
  case "$d" in *-dirty) dirty=.dirty; d=${d%-dirty} ;; esac
  local tag='v?([0-9]+(\.[0-9]+)*([~+.-][0-9A-Za-z.~+-]*)?)'
  if [[ "$d" =~ ^[0-9a-f]{7,40}$ ]]; then
    echo "0.0.0~git$stamp.$d$dirty"
  elif [[ "$d" =~ ^$tag-([0-9]+)-g([0-9a-f]+)$ ]]; then
    echo "${BASH_REMATCH[1]//-/\~}+git$stamp.${BASH_REMATCH[4]}.${BASH_REMATCH[5]}$dirty"
  elif [[ "$d" =~ ^$tag$ ]]; then
    echo "${BASH_REMATCH[1]//-/\~}$dirty"
  else
    echo "0.0.0~git$stamp$dirty"
  fi
}
version=${DEB_VERSION:-$(debian_version "$describe")-${DEB_REVISION:-1}}
if ! dpkg --validate-version "$version" 2>/dev/null; then
  echo "deb.sh: invalid Debian version '$version'" >&2; exit 1
fi
export SOURCE_DATE_EPOCH=$commit_epoch

# ---- per-daemon metadata ------------------------------------------------------
declare -A summary recommends suggests secrets own_secrets own_state long extra_units
summary[syncer]="replicates DNS records from NATS JetStream into PowerDNS"
long[syncer]=" zonecast replicates DNS records between nameservers through a NATS
 JetStream stream. The syncer replays and follows the stream and writes the
 RRsets into the local PowerDNS Authoritative server through its HTTP API.
 By default it runs an embedded NATS server with JetStream."
recommends[syncer]="pdns-server, pdns-backend-sqlite3"
suggests[syncer]=""
# Every daemon its own NATS user: the syncer holds its own (unrestricted)
# password and checks those of this host's watcher and gateway, which hold
# only theirs (role source and gateway; see the units' LoadCredential=).
# The route password of an embedded cluster starts empty (no cluster).
secrets[syncer]="/etc/zonecast/pdns-api-key:empty /etc/zonecast/nats-password:random /etc/zonecast/cluster-password:empty /etc/zonecast/watcher-nats-password:random /etc/zonecast/gateway-nats-password:random"
own_secrets[syncer]="/etc/zonecast/pdns-api-key:empty /etc/zonecast/nats-password:random /etc/zonecast/cluster-password:empty"

# Units besides systemd/zonecast-<daemon>.service, from systemd/: the
# syncer's daily backup (zonecast-syncer export).
extra_units[syncer]="zonecast-export.service zonecast-export.timer"

summary[watcher]="publishes the addresses of LXD instances as DNS records"
long[watcher]=" zonecast replicates DNS records between nameservers through a NATS
 JetStream stream. The watcher follows the instances of an LXD server and
 publishes their addresses as A, AAAA and PTR records to the stream."
recommends[watcher]=""
suggests[watcher]="lxd, zonecast-syncer"
secrets[watcher]="/etc/zonecast/watcher-nats-password:random"
own_secrets[watcher]=""

summary[gateway]="accepts DNS UPDATEs and dyndns2 requests, publishes them to NATS"
long[gateway]=" zonecast replicates DNS records between nameservers through a NATS
 JetStream stream. The gateway accepts dynamic DNS UPDATE messages (RFC 2136,
 TSIG) and dyndns2 HTTP requests, and publishes the changed records to the
 stream."
recommends[gateway]=""
suggests[gateway]="zonecast-syncer"
secrets[gateway]="/etc/zonecast/gateway-nats-password:random"
own_secrets[gateway]=""

summary[signer]="signs zones with DNSSEC on a hidden node, publishes them to NATS"
long[signer]=" zonecast replicates DNS records between nameservers through a NATS
 JetStream stream. The signer runs on a hidden node and holds the DNSSEC
 keys of the signed zones: it follows their records on the stream, signs
 them and publishes the signed zones, which the syncers serve as presigned
 zones. The public nameservers hold no private key."
recommends[signer]=""
suggests[signer]="zonecast-syncer"
# Its NATS user is one of the syncers' users file (role signer), not a
# local user of a syncer: the operator puts its password here, so it
# starts empty. Only the signer reads it.
secrets[signer]="/etc/zonecast/signer-nats-password:empty"
own_secrets[signer]="/etc/zonecast/signer-nats-password:empty"
# Its StateDirectory= (the keys), systemd's under DynamicUser=: purged
# with the package, whatever other zonecast package stays.
own_state[signer]="/var/lib/zonecast-signer /var/lib/private/zonecast-signer"

summary[register]="claims this host's DNS name and keeps its addresses there"
long[register]=" zonecast replicates DNS records between nameservers through a NATS
 JetStream stream. zonecast-register runs on any host: it claims the host's
 name in a claim zone of the zonecast gateways with SIG(0)-signed updates
 (first come), and keeps the host's global addresses there as the kernel
 adds and removes them."
recommends[register]=""
suggests[register]=""
# It talks DNS to the gateways, signed with its own key: no NATS user, no
# secret file. Its StateDirectory= holds the key: purged with the package.
secrets[register]=""
own_secrets[register]=""
own_state[register]="/var/lib/zonecast-register /var/lib/private/zonecast-register"

daemons=()
for d in ${DEB_DAEMONS:-syncer watcher gateway signer register}; do
  if compgen -G "$src/cmd/$d/*.go" >/dev/null; then
    daemons+=("$d")
  else
    echo "deb.sh: skipping zonecast-$d: no Go files in $src/cmd/$d"
  fi
done
if [ ${#daemons[@]} -eq 0 ]; then
  echo "deb.sh: nothing to package" >&2; exit 1
fi

work=$(mktemp -d "${TMPDIR:-/tmp}/zonecast-deb.XXXXXX")
trap 'rm -rf "$work"' EXIT
mkdir -p "$out"
# Packages of earlier builds would make `apt install ./dist/zonecast-syncer_*`
# match several versions.
rm -f "$out"/zonecast-*.deb

# ---- changelog.Debian ---------------------------------------------------------
# One entry per build; the history of changes is the git log (commit subjects
# are not copied: lintian would check their spelling and line lengths).
{
  echo "zonecast ($version) unstable; urgency=medium"
  echo
  echo "  * Build of $describe."
  echo "  * Changes: https://github.com/zonecast/zonecast/commits/$(git -C "$repo" rev-parse --short HEAD 2>/dev/null || echo main)"
  echo
  echo " -- $maintainer  $(date -u -R -d "@$commit_epoch")"
} >"$work/changelog.Debian"
gzip -9n <"$work/changelog.Debian" >"$work/changelog.Debian.gz"

# ---- build and package --------------------------------------------------------
# Every package's secrets: the last zonecast package purged removes them all.
all_secrets=$(printf '%s\n' ${secrets[syncer]} ${secrets[watcher]} ${secrets[gateway]} ${secrets[signer]} ${secrets[register]} | sort -u | tr '\n' ' ')
# A daemon's units: every one it ships, timers first (prerm stops them in
# this order), and those with an [Install] section (enabled by postinst).
units_of() { # daemon
  local u timers="" others=""
  for u in "zonecast-$1.service" ${extra_units[$1]:-}; do
    case $u in *.timer) timers+=" $u" ;; *) others+=" $u" ;; esac
  done
  echo $timers $others
}
installable_units_of() { # daemon
  local u out=""
  for u in $(units_of "$1"); do
    grep -q '^\[Install\]' "$repo/systemd/$u" && out+=" $u"
  done
  echo $out
}
subst() { # file daemon
  sed -e "s|@PKG@|zonecast-$2|g" -e "s|@NAME@|$2|g" \
      -e "s|@SECRETS@|${secrets[$2]}|g" -e "s|@OWN_SECRETS@|${own_secrets[$2]}|g" \
      -e "s|@OWN_STATE@|${own_state[$2]:-}|g" \
      -e "s|@ALL_SECRETS@|$all_secrets|g" \
      -e "s|@ALL_UNITS@|$(units_of "$2")|g" -e "s|@UNITS@|$(installable_units_of "$2")|g" "$1"
}

# gobuild ARCH OUTPUT PACKAGE: a static, reproducible build. One retry: a
# build cache trimmed by a concurrent `go` command can fail a build once
# ("could not import ... (open : no such file or directory)").
gobuild() {
  local i
  for i in 1 2; do
    if (cd "$src" && CGO_ENABLED=0 GOOS=linux GOARCH=$1 "$GO" build -trimpath -buildvcs=false \
        -ldflags "-s -w -buildid= -X main.version=$describe" -o "$2" "$3"); then
      return 0
    fi
    [ $i = 1 ] && echo "deb.sh: go build $3 ($1) failed, retrying once" >&2
  done
  return 1
}

# A manual page per daemon, from the --help of a binary for this machine.
hostarch=$("$GO" env GOARCH)
declare -A helptext
for d in "${daemons[@]}"; do
  gobuild "$hostarch" "$work/host/zonecast-$d" "./cmd/$d"
  helptext[$d]=$("$work/host/zonecast-$d" --help 2>&1 </dev/null || true)
done
manpage() { # daemon
  local d=$1 pkg=zonecast-$1 up=${1^^}
  cat <<MAN
.TH ZONECAST-$up 1 "$(date -u -d "@$commit_epoch" +%Y-%m-%d)" "zonecast $describe" "zonecast"
.SH NAME
$pkg \\- ${summary[$d]}
.SH SYNOPSIS
.B $pkg
.RI [ options ]
.SH DESCRIPTION
$(echo "${long[$d]}" | sed 's/^ //')
.PP
As a service, $pkg runs from
.BR $pkg.service ,
which reads its options from
.IR /etc/zonecast/$d.env .
.SH OPTIONS
Every option
.BI \\-\\- name
can also be set through the environment variable
.BI ZONECAST_ NAME\\fR,
in upper case with dashes as underscores; options that may be repeated take
comma-separated values there. Secrets are read from files
.RI ( *_FILE
options), never from the command line.
The output of
.B $pkg \\-\\-help
follows.
.PP
.nf
$(printf '%s\n' "${helptext[$d]}" | sed -e 's/\\/\\e/g' -e "s/^\([.']\)/\\\\\&\1/")
.fi
.SH FILES
.TP
.I /etc/zonecast/$d.env
Environment of the service: every option, commented out at its default.
$(if [ "$d" != register ]; then cat <<SECRETS
.TP
.I /etc/zonecast/*-password, /etc/zonecast/pdns-api-key
Secrets (mode 0600, root:root), handed to the service as systemd
credentials; $(if [ "$d" = signer ]; then
  echo "signer-nats-password is empty at installation: the password of the"
  echo "signer's user of the syncers' users file goes there."
else
  echo "NATS passwords are random at installation."
fi)
SECRETS
fi)
$(if [ "$d" = syncer ]; then cat <<'BACKUP'
.TP
.I /var/lib/zonecast
State directory of the service: the JetStream store of the embedded NATS
server.
.TP
.I /var/lib/zonecast/backup
Daily backups of the desired state by
.BR zonecast-export.timer ,
restored with
.BR "zonecast-syncer publish \-\-json" .
BACKUP
fi)
$(if [ "$d" = register ]; then cat <<'KEY'
.TP
.I /var/lib/zonecast-register
The claim's SIG(0) key (BIND's K*.key and K*.private files), in the
service's state directory, readable by its user alone; made on the first
start. The same key keeps the host's name across restarts.
KEY
fi)
$(if [ "$d" = signer ]; then cat <<'KEYS'
.TP
.I /var/lib/zonecast-signer/keys
The zones' DNSSEC keys (BIND's K*.key and K*.private files), in the
service's state directory, readable by its user alone; made for a zone
that has none.
.B zonecast-signer ds \-\-zone
.I zone
prints the DS records for the parent zone.
KEYS
fi)
.SH SEE ALSO
.BR systemctl (1),
.BR systemd.exec (5),
.BR journalctl (1)
MAN
}

for arch in $arches; do
  case "$arch" in amd64|arm64) ;; *) echo "deb.sh: unsupported arch $arch" >&2; exit 1 ;; esac
  for d in "${daemons[@]}"; do
    pkg=zonecast-$d
    root=$work/$arch/$pkg
    mkdir -p "$root/DEBIAN" "$root/usr/bin" "$root/lib/systemd/system" \
             "$root/etc/zonecast" "$root/usr/share/doc/$pkg"

    echo "deb.sh: building $pkg for $arch"
    gobuild "$arch" "$root/usr/bin/$pkg" "./cmd/$d"

    for u in $(units_of "$d"); do
      install -m 0644 "$repo/systemd/$u" "$root/lib/systemd/system/$u"
    done
    install -m 0644 "$repo/packaging/$d.env" "$root/etc/zonecast/$d.env"
    if [ -n "${DEB_ENV_NOTE:-}" ]; then
      printf '# %s\n' "$DEB_ENV_NOTE" >>"$root/etc/zonecast/$d.env"
    fi
    install -m 0644 "$repo/packaging/copyright" "$root/usr/share/doc/$pkg/copyright"
    install -m 0644 "$work/changelog.Debian.gz" "$root/usr/share/doc/$pkg/changelog.Debian.gz"
    mkdir -p "$root/usr/share/lintian/overrides" "$root/usr/share/man/man1"
    subst "$repo/packaging/lintian/overrides" "$d" >"$root/usr/share/lintian/overrides/$pkg"
    manpage "$d" | gzip -9n >"$root/usr/share/man/man1/$pkg.1.gz"
    if [ "$d" = syncer ]; then
      # The alerting rules and the dashboard (docs/alerts.md) cover every
      # daemon; they ship with the one on every nameserver.
      mkdir -p "$root/usr/share/zonecast/prometheus" "$root/usr/share/zonecast/grafana"
      install -m 0644 "$repo/packaging/prometheus/zonecast.rules.yml" \
        "$repo/packaging/prometheus/zonecast.rules.test.yml" "$root/usr/share/zonecast/prometheus/"
      install -m 0644 "$repo/packaging/grafana/zonecast-dashboard.json" "$root/usr/share/zonecast/grafana/"
    fi

    for s in postinst prerm postrm; do
      subst "$repo/packaging/maint/$s" "$d" >"$root/DEBIAN/$s"
      chmod 0755 "$root/DEBIAN/$s"
    done
    echo "/etc/zonecast/$d.env" >"$root/DEBIAN/conffiles"

    find "$root" -path "$root/DEBIAN" -prune -o -print0 | xargs -0 touch -h -d "@$commit_epoch"
    (cd "$root" && find . -path ./DEBIAN -prune -o -type f -printf '%P\0' | sort -z |
      xargs -0 md5sum >DEBIAN/md5sums)
    size=$(du -k -s --exclude=DEBIAN "$root" | cut -f1)
    {
      echo "Package: $pkg"
      echo "Source: zonecast"
      echo "Version: $version"
      echo "Architecture: $arch"
      echo "Maintainer: $maintainer"
      echo "Installed-Size: $size"
      echo "Depends: adduser"
      [ -n "${recommends[$d]}" ] && echo "Recommends: ${recommends[$d]}"
      [ -n "${suggests[$d]}" ] && echo "Suggests: ${suggests[$d]}"
      echo "Section: net"
      echo "Priority: optional"
      echo "Homepage: https://github.com/zonecast/zonecast"
      echo "Description: zonecast: ${summary[$d]}"
      echo "${long[$d]}"
    } >"$root/DEBIAN/control"
    chmod 0644 "$root/DEBIAN/control" "$root/DEBIAN/conffiles" "$root/DEBIAN/md5sums"

    deb=$out/${pkg}_${version}_${arch}.deb
    dpkg-deb --root-owner-group -Zxz --build "$root" "$deb" >/dev/null
    echo "deb.sh: wrote ${deb#"$repo"/}"
  done
done
