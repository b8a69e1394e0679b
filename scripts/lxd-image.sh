#!/usr/bin/env bash
# Builds a tiny LXD container image from Debian's busybox-static, for tests,
# the demo and benchmarks (no image server is reachable here).
#
#   scripts/lxd-image.sh OUT.tar.gz
#
# The unified tarball holds metadata.yaml and rootfs/. In the container, init
# (busybox) brings lo and eth0 up and respawns udhcpc for IPv4; the kernel
# configures IPv6 by SLAAC from the bridge's router advertisements.
# Import: lxc image import OUT.tar.gz --alias busybox
set -euo pipefail

out=${1:?usage: $0 OUT.tar.gz}
bb=/bin/busybox
[ -x "$bb" ] && "$bb" --list-full >/dev/null 2>&1 || { echo "lxd-image.sh: $bb missing (scripts/deps.sh lxd)" >&2; exit 1; }
file -b "$bb" 2>/dev/null | grep -q dynamic && { echo "lxd-image.sh: $bb is not static" >&2; exit 1; }

tmp=$(mktemp -d)
trap 'rm -rf "$tmp"' EXIT
root=$tmp/rootfs
mkdir -p "$root"/{bin,sbin,usr/bin,usr/sbin,etc,dev,proc,sys,tmp,run,root,var/run,usr/share/udhcpc}
chmod 1777 "$root/tmp"
cp "$bb" "$root/bin/busybox"
# One symlink per applet. perl (Essential in Debian) makes the ~300 links in
# one process: a fork per link costs ~25 s on these machines.
"$bb" --list-full | ROOT=$root perl -MFile::Path=make_path -ne '
  chomp; next if $_ eq "" || $_ eq "bin/busybox";
  my $p = "$ENV{ROOT}/$_"; (my $d = $p) =~ s{/[^/]+$}{};
  make_path($d); unlink $p; symlink("/bin/busybox", $p) or die "symlink $p: $!\n";
'
ln -sf /bin/busybox "$root/sbin/init"

cat >"$root/etc/inittab" <<'EOF'
::sysinit:/bin/hostname -F /etc/hostname
::sysinit:/sbin/ip link set lo up
::sysinit:/sbin/ip link set eth0 up
::respawn:/sbin/udhcpc -f -S -i eth0 -s /usr/share/udhcpc/default.script
::restart:/sbin/init
EOF

cat >"$root/usr/share/udhcpc/default.script" <<'EOF'
#!/bin/sh
# udhcpc hook: configure IPv4 only, never touch IPv6 (SLAAC, ip addr add).
case "$1" in
  deconfig)
    ip -4 addr flush dev "$interface"
    ;;
  bound|renew)
    if ! ip -4 addr show dev "$interface" | grep -q "inet $ip/"; then
      ip -4 addr flush dev "$interface"
      ip addr add "$ip/${mask:-24}" dev "$interface"
    fi
    if [ -n "$router" ]; then
      ip -4 route replace default via "${router%% *}" dev "$interface"
    fi
    : >/etc/resolv.conf
    for d in $dns; do echo "nameserver $d" >>/etc/resolv.conf; done
    ;;
esac
exit 0
EOF
chmod +x "$root/usr/share/udhcpc/default.script"

echo busybox >"$root/etc/hostname"
echo 'root:x:0:0:root:/root:/bin/sh' >"$root/etc/passwd"
echo 'root:x:0:' >"$root/etc/group"
: >"$root/etc/resolv.conf"

cat >"$tmp/metadata.yaml" <<EOF
architecture: x86_64
creation_date: $(date +%s)
properties:
  description: busybox-static (zonecast tests)
  os: busybox
  release: "$("$bb" 2>&1 | head -n1 | awk '{print $2}')"
templates:
  /etc/hostname:
    when: [create, copy, rename]
    template: hostname.tpl
EOF
mkdir -p "$tmp/templates"
echo '{{ container.name }}' >"$tmp/templates/hostname.tpl"

tar -C "$tmp" --numeric-owner --owner=0 --group=0 -czf "$out" metadata.yaml templates rootfs
