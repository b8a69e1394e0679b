package web

import (
	"strings"
	"testing"
)

func TestClientConfigs(t *testing.T) {
	t.Parallel()
	for name, tc := range map[string]struct {
		url     string
		want    []string
		wantErr bool
	}{
		"https": {url: "https://dyn.example.net",
			want: []string{"ssl=yes\n", "server=dyn.example.net\n", "Port:                443 (HTTPS)", "Server:              dyn.example.net\n",
				"'https://dyn.example.net/nic/update?hostname=h.dyn.example.net'"}},
		"http with a port": {url: "http://127.0.0.1:8245",
			want: []string{"ssl=no\n", "server=127.0.0.1:8245\n", "Port:                8245\n", "Server:              127.0.0.1\n",
				"'http://127.0.0.1:8245/nic/update?hostname=h.dyn.example.net&myip="}},
		"a path": {url: "https://example.net/dyn/",
			want: []string{"server=example.net/dyn\n", "Path:                /dyn/nic/update\n", "https://example.net/dyn/nic/update?hostname="}},
		"IPv6": {url: "http://[2001:db8::1]:8245",
			want: []string{"server=[2001:db8::1]:8245\n", "Server:              [2001:db8::1]\n", "Port:                8245\n"}},
		"none":       {url: "", want: []string{"server=<dyndns server>\n"}},
		"no scheme":  {url: "dyn.example.net", wantErr: true},
		"with query": {url: "https://dyn.example.net/?x=1", wantErr: true},
	} {
		t.Run(name, func(t *testing.T) {
			t.Parallel()
			ep, err := parseEndpoint(tc.url)
			if tc.wantErr {
				if err == nil {
					t.Fatalf("%q accepted", tc.url)
				}
				return
			}
			if err != nil {
				t.Fatal(err)
			}
			c := configs(ep, "h.dyn.example.net", "TOKEN")
			all := c.Ddclient + c.Router + c.Curl
			for _, w := range append(tc.want, "password='TOKEN'", "login=h.dyn.example.net\n", "protocol=dyndns2\n",
				"curl -sS -K - 'http", "user = \"h.dyn.example.net:TOKEN\"\n", "Password:            TOKEN\n") {
				if !strings.Contains(all, w) {
					t.Errorf("no %q in\n%s", w, all)
				}
			}
			if !strings.HasSuffix(c.Ddclient, "\nh.dyn.example.net\n") {
				t.Errorf("the ddclient configuration does not end with the host:\n%s", c.Ddclient)
			}
			if strings.Contains(c.Curl, "-u ") || strings.Count(c.Curl, "TOKEN") != strings.Count(c.Curl, "user = ") {
				t.Errorf("the token is on curl's command line:\n%s", c.Curl)
			}
			if p := configs(ep, "h.dyn.example.net", ""); !strings.Contains(p.Ddclient, "password='<token>'") || strings.Contains(p.Curl, "TOKEN") {
				t.Errorf("without a token: %+v", p)
			}
		})
	}
}
