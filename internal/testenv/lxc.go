package testenv

import (
	"context"
	"crypto/rand"
	"encoding/hex"
	"net/netip"
	"os/exec"
	"strings"
	"testing"
	"time"

	"github.com/canonical/lxd/shared/api"
)

// LXC runs the real `lxc` client and returns its output; a failure fails
// the test with the output.
func LXC(t testing.TB, args ...string) string {
	t.Helper()
	ctx, cancel := context.WithTimeout(context.Background(), 60*time.Second)
	defer cancel()
	out, err := exec.CommandContext(ctx, "lxc", args...).CombinedOutput()
	if err != nil {
		t.Fatalf("lxc %s: %v\n%s", strings.Join(args, " "), err, out)
	}
	return string(out)
}

// UniqueName returns "zc-<what>-<6 hex digits>": a fresh LXD instance or
// project name that scripts/lxd.sh down knows to clean up.
func UniqueName(t testing.TB, what string) string {
	t.Helper()
	b := make([]byte, 3)
	if _, err := rand.Read(b); err != nil {
		t.Fatal(err)
	}
	return "zc-" + what + "-" + hex.EncodeToString(b)
}

// GlobalAddrs returns the global IPv4 and IPv6 addresses of an instance's
// state, loopback excluded, in the order LXD lists them.
func GlobalAddrs(st *api.InstanceState) (v4, v6 []string) {
	for nic, n := range st.Network {
		if nic == "lo" {
			continue
		}
		for _, a := range n.Addresses {
			if a.Scope != "global" {
				continue
			}
			ip, err := netip.ParseAddr(a.Address)
			if err != nil {
				continue
			}
			if ip.Is4() {
				v4 = append(v4, ip.String())
			} else {
				v6 = append(v6, ip.String())
			}
		}
	}
	return v4, v6
}
