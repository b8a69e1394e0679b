package gateway

import (
	"net/netip"
	"net/url"
	"slices"
	"testing"
)

func TestParseDyndns(t *testing.T) {
	t.Parallel()
	remote4 := netip.MustParseAddr("198.51.100.7")
	remote6 := netip.MustParseAddr("::ffff:198.51.100.8")
	cases := map[string]struct {
		query         string
		remote        netip.Addr
		hosts, v4, v6 []string
		wantErr       bool
	}{
		"one v4":            {query: "hostname=h.example&myip=192.0.2.1", hosts: []string{"h.example"}, v4: []string{"192.0.2.1"}},
		"mixed list":        {query: "hostname=a.example,b.example&myip=2001:DB8::1,192.0.2.1", hosts: []string{"a.example", "b.example"}, v4: []string{"192.0.2.1"}, v6: []string{"2001:db8::1"}},
		"myipv6":            {query: "hostname=h.example&myip=192.0.2.1&myipv6=2001:db8::2,2001:db8::1", hosts: []string{"h.example"}, v4: []string{"192.0.2.1"}, v6: []string{"2001:db8::1", "2001:db8::2"}},
		"source address":    {query: "hostname=h.example", remote: remote4, hosts: []string{"h.example"}, v4: []string{"198.51.100.7"}},
		"mapped source":     {query: "hostname=h.example", remote: remote6, hosts: []string{"h.example"}, v4: []string{"198.51.100.8"}},
		"mapped myip":       {query: "hostname=h.example&myip=::ffff:192.0.2.9", hosts: []string{"h.example"}, v4: []string{"192.0.2.9"}},
		"duplicates":        {query: "hostname=h.example&myip=192.0.2.1,192.0.2.1", hosts: []string{"h.example"}, v4: []string{"192.0.2.1"}},
		"bad address":       {query: "hostname=h.example&myip=nope", wantErr: true},
		"zone id":           {query: "hostname=h.example&myip=fe80::1%25eth0", wantErr: true},
		"empty myip source": {query: "hostname=h.example&myip=", remote: remote4, hosts: []string{"h.example"}, v4: []string{"198.51.100.7"}},
	}
	for name, c := range cases {
		t.Run(name, func(t *testing.T) {
			t.Parallel()
			q, err := url.ParseQuery(c.query)
			if err != nil {
				t.Fatal(err)
			}
			r, err := ParseDyndns(q, c.remote)
			if (err != nil) != c.wantErr {
				t.Fatalf("err %v", err)
			}
			if c.wantErr {
				return
			}
			if !slices.Equal(r.Hostnames, c.hosts) || !slices.Equal(r.V4, c.v4) || !slices.Equal(r.V6, c.v6) {
				t.Fatalf("got %+v", r)
			}
		})
	}
}
