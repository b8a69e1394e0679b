package web

import (
	"fmt"
	"net"
	"net/url"
	"strings"
)

// tokenPlaceholder stands for the token in the client configurations
// until one is issued: the page never sees a token again.
const tokenPlaceholder = "<token>"

// endpoint is the dyndns2 endpoint as clients address it.
type endpoint struct {
	Host  string // host[:port]
	Path  string // the URL's path before /nic/update, without a trailing slash
	HTTPS bool
}

// parseEndpoint reads --web-dyndns-url (e.g. https://dyn.example.net, or
// http://127.0.0.1:8245); an empty one gives placeholders.
func parseEndpoint(raw string) (endpoint, error) {
	if raw == "" {
		return endpoint{Host: "<dyndns server>", HTTPS: true}, nil
	}
	u, err := url.Parse(raw)
	if err != nil || (u.Scheme != "http" && u.Scheme != "https") || u.Host == "" || u.RawQuery != "" || u.User != nil {
		return endpoint{}, fmt.Errorf("dyndns URL %q: want http(s)://host[:port][/path]", raw)
	}
	return endpoint{Host: u.Host, Path: strings.TrimSuffix(u.EscapedPath(), "/"), HTTPS: u.Scheme == "https"}, nil
}

func (e endpoint) url() string {
	scheme := "http"
	if e.HTTPS {
		scheme = "https"
	}
	return scheme + "://" + e.Host + e.Path + "/nic/update"
}

// clientConfigs are the copy-paste configurations of one host.
type clientConfigs struct {
	Ddclient, Curl, Router string
}

// configs returns the client configurations of host (without its
// trailing dot) with token, or the placeholder. The gateway's dyndns2
// endpoint takes the token as the password of HTTP basic authentication;
// the user name is not checked, so it is the host name.
func configs(e endpoint, host, token string) clientConfigs {
	if token == "" {
		token = tokenPlaceholder
	}
	ssl := "no"
	if e.HTTPS {
		ssl = "yes"
	}
	var c clientConfigs
	// ddclient 3.10: dyndns2 sends GET <server>/nic/update, so a path of
	// the endpoint goes into server=. Its password is quoted: a token is
	// base64url, which holds no quote.
	c.Ddclient = fmt.Sprintf(`# ddclient.conf: update %[1]s with ddclient (3.10 or later).
# ddclient finds the address with use=, e.g. use=if, if=eth0 (see man ddclient).
protocol=dyndns2
ssl=%[2]s
server=%[3]s
login=%[1]s
password='%[4]s'
%[1]s
`, host, ssl, e.Host+e.Path, token)
	// curl reads the credentials as its configuration from stdin (-K -):
	// on its command line, ps would show the token to every user of the
	// machine. A token is base64url and a host name has no quote: both
	// fit a quoted value of curl's configuration as they are.
	q := e.url() + "?hostname=" + url.QueryEscape(host)
	c.Curl = fmt.Sprintf(`# The token goes to curl on stdin (-K -), not on its command line (ps).
# Run it from a script: a shell's history keeps what is typed.
# The address the gateway sees the request come from:
curl -sS -K - '%[3]s' <<'EOF'
user = "%[1]s:%[2]s"
EOF
# Given addresses (IPv4 and IPv6, comma separated):
curl -sS -K - '%[3]s&myip=192.0.2.1,2001:db8::1' <<'EOF'
user = "%[1]s:%[2]s"
EOF
`, host, token, q)

	port := "80 (HTTP)"
	if e.HTTPS {
		port = "443 (HTTPS)"
	}
	if _, p, err := net.SplitHostPort(e.Host); err == nil {
		port = p
	}
	c.Router = fmt.Sprintf(`Service / provider:  dyndns2 ("DynDNS", "Custom" or "User-defined")
Server:              %[1]s
Port:                %[2]s
Path:                %[3]s/nic/update
User name:           %[4]s
Password:            %[5]s
Host name:           %[4]s
Update URL (routers that take one, e.g. FRITZ!Box):
%[6]s?hostname=<domain>&myip=<ipaddr>,<ip6addr>
`, hostOnly(e.Host), port, e.Path, host, token, e.url())
	return c
}

// hostOnly drops the port of host[:port].
func hostOnly(h string) string {
	host, _, err := net.SplitHostPort(h)
	if err != nil {
		return h
	}
	if strings.Contains(host, ":") {
		return "[" + host + "]"
	}
	return host
}
