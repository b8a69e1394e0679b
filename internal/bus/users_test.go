package bus

import (
	"context"
	"errors"
	"os"
	"path/filepath"
	"slices"
	"strings"
	"sync"
	"testing"
	"time"

	"github.com/nats-io/nats-server/v2/server"
	"github.com/nats-io/nats.go"
	"github.com/nats-io/nats.go/jetstream"
	"github.com/nats-io/nkeys"
	"github.com/rs/zerolog"
	"golang.org/x/crypto/bcrypt"

	"github.com/zonecast/zonecast/internal/events"
)

func TestParseUsers(t *testing.T) {
	t.Parallel()
	hash, err := bcrypt.GenerateFromPassword([]byte("pw"), bcrypt.MinCost)
	if err != nil {
		t.Fatal(err)
	}
	kp, _ := nkeys.CreateUser()
	pub, _ := kp.PublicKey()
	h := string(hash)
	tests := map[string]struct {
		in      string
		wantErr string
	}{
		"source":           {in: `{"users":[{"user":"w1","password_hash":"` + h + `","role":"watcher","origin":"h1","zones":["LXD.Example.com"]}]}`},
		"syncer nkey":      {in: `{"users":[{"nkey":"` + pub + `","role":"syncer","node":"ns2"}]}`},
		"reader":           {in: `{"users":[{"user":"ops","password_hash":"` + h + `","role":"reader"}]}`},
		"unknown field":    {in: `{"users":[{"user":"ops","password":"x","role":"reader"}]}`, wantErr: "unknown field"},
		"plain password":   {in: `{"users":[{"user":"ops","password_hash":"secret","role":"reader"}]}`, wantErr: "bcrypt"},
		"no zones":         {in: `{"users":[{"user":"w","password_hash":"` + h + `","role":"source","origin":"h1"}]}`, wantErr: "zone"},
		"bad origin":       {in: `{"users":[{"user":"w","password_hash":"` + h + `","role":"source","origin":"H.1","zones":["a.b"]}]}`, wantErr: "origin"},
		"syncer no node":   {in: `{"users":[{"user":"s","password_hash":"` + h + `","role":"syncer"}]}`, wantErr: "node"},
		"bad role":         {in: `{"users":[{"user":"s","password_hash":"` + h + `","role":"root"}]}`, wantErr: "unknown role"},
		"bad nkey":         {in: `{"users":[{"nkey":"SU123","role":"reader"}]}`, wantErr: "public user key"},
		"gateway":          {in: `{"users":[{"user":"gw","password_hash":"` + h + `","role":"gateway","zones":["dyn.example"]}]}`},
		"gateway no zone":  {in: `{"users":[{"user":"gw","password_hash":"` + h + `","role":"gateway"}]}`, wantErr: "zone"},
		"gateway origin":   {in: `{"users":[{"user":"gw","password_hash":"` + h + `","role":"gateway","origin":"x","zones":["a.b"]}]}`, wantErr: "no origin"},
		"signer":           {in: `{"users":[{"user":"sg","password_hash":"` + h + `","role":"signer","origin":"signer1","zones":["Example.com"]}]}`},
		"signer no origin": {in: `{"users":[{"user":"sg","password_hash":"` + h + `","role":"signer","zones":["a.b"]}]}`, wantErr: "origin"},
		"signer no zone":   {in: `{"users":[{"user":"sg","password_hash":"` + h + `","role":"signer","origin":"s1"}]}`, wantErr: "zone"},
		"twice":            {in: `{"users":[{"user":"a","password_hash":"` + h + `","role":"reader"},{"user":"a","password_hash":"` + h + `","role":"reader"}]}`, wantErr: "twice"},
	}
	for name, tc := range tests {
		t.Run(name, func(t *testing.T) {
			t.Parallel()
			users, err := ParseUsers(strings.NewReader(tc.in))
			if tc.wantErr != "" {
				if err == nil || !strings.Contains(err.Error(), tc.wantErr) {
					t.Fatalf("error = %v, want one containing %q", err, tc.wantErr)
				}
				return
			}
			if err != nil {
				t.Fatal(err)
			}
			if name == "source" && (users[0].Role != RoleSource || users[0].Zones[0] != "lxd.example.com.") {
				t.Fatalf("not canonicalised: %+v", users[0])
			}
		})
	}
}

func TestRolePermissions(t *testing.T) {
	t.Parallel()
	src := RolePermissions(UserSpec{Role: RoleSource, Origin: "h1", Zones: []string{"a.example.", "b.example."}}, Scope{}, nil)
	for _, want := range []string{"zonecast.rr.h1.example.a.>", "zonecast.rr.h1.example.b.>", "$JS.API.STREAM.INFO.ZONECAST"} {
		if !contains(src.Publish.Allow, want) {
			t.Errorf("source publish %v lacks %s", src.Publish.Allow, want)
		}
	}
	// Its records, the stream's lookup, and the zone list's watch.
	if n := len(src.Publish.Allow); n != 4+len(watchKV(DefaultZoneBucket)) {
		t.Errorf("source publish = %v, want exactly %d subjects", src.Publish.Allow, 4+len(watchKV(DefaultZoneBucket)))
	}
	for _, s := range src.Publish.Allow {
		if strings.HasPrefix(s, "$KV.") || strings.Contains(s, "DIRECT.GET") || strings.Contains(s, "MSG.GET") {
			t.Errorf("source may publish %s", s)
		}
	}
	syn := RolePermissions(UserSpec{Role: RoleSyncer, Node: "ns2"}, Scope{}, nil)
	if !contains(syn.Publish.Allow, "$KV.zonecast_status.ns2") || contains(syn.Publish.Allow, "$KV.zonecast_status.>") {
		t.Errorf("syncer may write %v", syn.Publish.Allow)
	}
	for _, s := range syn.Publish.Allow {
		if strings.HasPrefix(s, "zonecast.rr") {
			t.Errorf("syncer may publish records: %s", s)
		}
	}
	sg := RolePermissions(UserSpec{Role: RoleSigner, Origin: "s1", Zones: []string{"a.example."}}, Scope{}, nil)
	for _, want := range []string{"zonecast.signed.s1.example.a.>", "$KV.zonecast_status.s1", "$JS.API.CONSUMER.CREATE.ZONECAST"} {
		if !contains(sg.Publish.Allow, want) {
			t.Errorf("signer publish %v lacks %s", sg.Publish.Allow, want)
		}
	}
	for _, s := range sg.Publish.Allow {
		if strings.HasPrefix(s, "zonecast.rr") || strings.Contains(s, "zonecast_gateway") || s == "$KV.zonecast_status.>" {
			t.Errorf("signer may publish %s", s)
		}
	}
	others := map[string]UserSpec{
		"source":        {Role: RoleSource, Origin: "h1", Zones: []string{"a.example."}},
		"gateway":       {Role: RoleGateway, Zones: []string{"a.example."}},
		"syncer":        {Role: RoleSyncer, Node: "ns2"},
		"syncer, zones": {Role: RoleSyncer, Node: "ns2", Zones: []string{"a.example."}},
		"reader":        {Role: RoleReader},
	}
	for name, u := range others {
		p := RolePermissions(u, Scope{}, []string{"h1"})
		for _, s := range p.Publish.Allow {
			if strings.HasPrefix(s, "zonecast.signed") {
				t.Errorf("%s may publish %s", name, s)
			}
		}
		if u.Role != RoleReader && !contains(p.Publish.Deny, "zonecast.signed.>") {
			t.Errorf("%s publish deny %v lacks the signed subjects", name, p.Publish.Deny)
		}
	}
	if RolePermissions(UserSpec{Role: RoleAdmin}, Scope{}, nil) != nil {
		t.Error("admin is restricted")
	}
}

func contains(list []string, s string) bool {
	for _, x := range list {
		if x == s {
			return true
		}
	}
	return false
}

// TestSourcePermissions: a source user of a users file publishes its own
// origin in its zones, and nothing else is stored; the admin user (the
// syncer's own) keeps working; a syncer user follows the stream and writes
// only its own status.
func TestSourcePermissions(t *testing.T) {
	t.Parallel()
	ps := startPermServer(t, "perm", func(h string) string {
		return `{"users":[
		{"user":"w1","password_hash":"` + h + `","role":"source","origin":"h1","zones":["a.example"]},
		{"user":"ns2","password_hash":"` + h + `","role":"syncer","node":"ns2"}]}`
	})
	ctx, adminPW, userPW := ps.ctx, ps.adminPW, ps.userPW
	connect := func(user, pwFile string) jetstream.JetStream { return ps.js(t, user, pwFile) }
	admin := connect(testUser, adminPW)
	st, err := EnsureStream(ctx, admin, StreamConfig{})
	if err != nil {
		t.Fatal(err)
	}
	if _, err := StatusBucket(ctx, admin, "", 1, testLog()); err != nil {
		t.Fatal(err)
	}
	pub := NewPublisher(connect("w1", userPW), "", "")
	msg := func(name, origin string) events.Message {
		return events.Message{Version: 1, Name: name, Type: "A", Origin: origin, TTL: 60, Records: []string{"192.0.2.1"}}
	}
	tests := map[string]struct {
		m      events.Message
		stored bool
	}{
		"own origin, own zone": {m: msg("web.a.example.", "h1"), stored: true},
		"own origin, apex":     {m: msg("a.example.", "h1"), stored: true},
		"other origin":         {m: msg("web.a.example.", "h2")},
		"outside its zones":    {m: msg("web.b.example.", "h1")},
		"parent of its zone":   {m: msg("example.", "h1")},
		"look-alike zone":      {m: msg("web.xa.example.", "h1")},
	}
	for name, tc := range tests {
		pctx, cancel := context.WithTimeout(ctx, 2*time.Second)
		_, err := pub.Publish(pctx, tc.m, 0)
		cancel()
		if tc.stored && err != nil {
			t.Errorf("%s: publish refused: %v", name, err)
		}
		if !tc.stored && err == nil {
			t.Errorf("%s: publish of %s as %s was stored", name, tc.m.Name, tc.m.Origin)
		}
	}
	info, err := st.Info(ctx)
	if err != nil {
		t.Fatal(err)
	}
	if info.State.Msgs != 2 {
		t.Errorf("stream holds %d messages, want the 2 allowed", info.State.Msgs)
	}

	// The syncer role: follows, writes its own status, not another's, and
	// cannot publish records.
	sjs := connect("ns2", userPW)
	fctx, fcancel := context.WithCancel(ctx)
	got := make(chan events.Delivery, 10)
	go func() {
		_ = Follow(fctx, sjs, FollowConfig{Handle: func(d events.Delivery) { got <- d }, Log: testLog()})
	}()
	for i := 0; i < 2; i++ {
		select {
		case <-got:
		case <-time.After(10 * time.Second):
			t.Fatalf("syncer user received %d of 2 messages", i)
		}
	}
	fcancel()
	kv, err := sjs.KeyValue(ctx, DefaultStatusBucket)
	if err != nil {
		t.Fatalf("syncer user opening the status bucket: %v", err)
	}
	if _, err := kv.Put(ctx, "ns2", []byte("{}")); err != nil {
		t.Errorf("syncer user writing its own status: %v", err)
	}
	pctx, cancel := context.WithTimeout(ctx, 2*time.Second)
	_, err = kv.Put(pctx, "ns3", []byte("{}"))
	cancel()
	if err == nil {
		t.Error("syncer user wrote another node's status")
	}
	pctx, cancel = context.WithTimeout(ctx, 2*time.Second)
	_, err = NewPublisher(sjs, "", "").Publish(pctx, msg("x.a.example.", "h1"), 0)
	cancel()
	if err == nil {
		t.Error("syncer user published a record")
	}
	if errors.Is(ctx.Err(), context.DeadlineExceeded) {
		t.Fatal("test ran out of time")
	}
	_ = os.Remove(userPW)
}

// TestConfirmAppliedPermissions: a syncer user publishes its own applied
// reports only, in its own fleet's (stream's) subjects; a reader user
// (what a gateway with --confirm needs) receives them and no other
// fleet's; a source user does not.
func TestConfirmAppliedPermissions(t *testing.T) {
	t.Parallel()
	syn := RolePermissions(UserSpec{Role: RoleSyncer, Node: "ns2"}, Scope{}, nil)
	if !contains(syn.Publish.Allow, "zonecast.applied.ZONECAST.ns2") || contains(syn.Subscribe.Allow, "zonecast.applied.ZONECAST.>") {
		t.Errorf("syncer permissions: publish %v, subscribe %v", syn.Publish.Allow, syn.Subscribe.Allow)
	}
	rd := RolePermissions(UserSpec{Role: RoleReader}, Scope{Applied: "x.applied", Stream: "F2"}, nil)
	if !contains(rd.Subscribe.Allow, "x.applied.F2.>") {
		t.Errorf("reader subscribe %v", rd.Subscribe.Allow)
	}

	ps := startPermServer(t, "applied", func(h string) string {
		return `{"users":[
		{"user":"ns2","password_hash":"` + h + `","role":"syncer","node":"ns2"},
		{"user":"gw","password_hash":"` + h + `","role":"reader"},
		{"user":"w1","password_hash":"` + h + `","role":"source","origin":"h1","zones":["a.example"]}]}`
	})
	connect := func(user string) *nats.Conn { return ps.conn(t, user, ps.userPW) }
	subscribe := func(nc *nats.Conn) chan string {
		got := make(chan string, 10)
		if _, err := nc.Subscribe("zonecast.applied.ZONECAST.>", func(m *nats.Msg) { got <- m.Subject }); err != nil {
			t.Fatal(err)
		}
		if err := nc.Flush(); err != nil {
			t.Fatal(err)
		}
		return got
	}
	gw, src := subscribe(connect("gw")), subscribe(connect("w1"))
	ns2 := connect("ns2")
	for _, subj := range []string{"zonecast.applied.ZONECAST.ns3", "zonecast.applied.OTHER.ns2", "zonecast.applied.ZONECAST.ns2"} {
		if err := ns2.Publish(subj, []byte("{}")); err != nil {
			t.Fatal(err)
		}
	}
	if err := ns2.Flush(); err != nil {
		t.Fatal(err)
	}
	select {
	case s := <-gw:
		if s != "zonecast.applied.ZONECAST.ns2" {
			t.Fatalf("reader received %s: another node's subject got through", s)
		}
	case <-time.After(5 * time.Second):
		t.Fatal("reader did not receive the syncer's own applied report")
	}
	select {
	case s := <-gw:
		t.Fatalf("reader also received %s", s)
	case s := <-src:
		t.Fatalf("source user received %s", s)
	case <-time.After(200 * time.Millisecond):
	}
}

// TestGatewayPermissions: a gateway user publishes any origin's records in
// its zones and nothing outside them, owns its bucket (creates, writes,
// watches it), reads the status bucket without writing it; a reader user
// cannot read the gateway's bucket (it holds the TSIG secrets) nor write
// the status bucket.
func TestGatewayPermissions(t *testing.T) {
	t.Parallel()
	ps := startPermServer(t, "gwperm", func(h string) string {
		return `{"users":[
		{"user":"gw","password_hash":"` + h + `","role":"gateway","zones":["dyn.example"]},
		{"user":"ops","password_hash":"` + h + `","role":"reader"}]}`
	})
	ctx, adminPW, userPW := ps.ctx, ps.adminPW, ps.userPW
	connect := func(user, pwFile string) jetstream.JetStream { return ps.js(t, user, pwFile) }
	admin := connect(testUser, adminPW)
	if _, err := EnsureStream(ctx, admin, StreamConfig{}); err != nil {
		t.Fatal(err)
	}
	status, err := StatusBucket(ctx, admin, "", 1, testLog())
	if err != nil {
		t.Fatal(err)
	}
	if _, err := status.Put(ctx, "ns1", []byte("{}")); err != nil {
		t.Fatal(err)
	}
	short := func() (context.Context, context.CancelFunc) { return context.WithTimeout(ctx, 2*time.Second) }

	gw := connect("gw", userPW)
	pub := NewPublisher(gw, "", "")
	msg := func(name, origin string) events.Message {
		return events.Message{Version: 1, Name: name, Type: "A", Origin: origin, TTL: 60, Records: []string{"192.0.2.1"}}
	}
	for _, tc := range []struct {
		m      events.Message
		stored bool
	}{
		{msg("h1.dyn.example.", "key-kea"), true},
		{msg("h2.dyn.example.", "host-h2"), true},
		{msg("h1.other.example.", "key-kea"), false},
		{msg("example.", "key-kea"), false},
	} {
		pctx, cancel := short()
		_, err := pub.Publish(pctx, tc.m, 0)
		cancel()
		if tc.stored != (err == nil) {
			t.Errorf("gateway publishing %s as %s: err %v, want stored %v", tc.m.Name, tc.m.Origin, err, tc.stored)
		}
	}
	kv, err := gw.CreateKeyValue(ctx, jetstream.KeyValueConfig{Bucket: DefaultGatewayBucket})
	if err != nil {
		t.Fatalf("gateway creating its bucket: %v", err)
	}
	if _, err := kv.Put(ctx, "tsig.kea", []byte("secret")); err != nil {
		t.Fatalf("gateway writing its bucket: %v", err)
	}
	w, err := kv.WatchAll(ctx)
	if err != nil {
		t.Fatalf("gateway watching its bucket: %v", err)
	}
	if e := <-w.Updates(); e == nil || e.Key() != "tsig.kea" {
		t.Fatalf("gateway watch: first update %v", e)
	}
	_ = w.Stop()
	gst, err := gw.KeyValue(ctx, DefaultStatusBucket)
	if err != nil {
		t.Fatalf("gateway opening the status bucket: %v", err)
	}
	if _, err := gst.Get(ctx, "ns1"); err != nil {
		t.Errorf("gateway reading a status: %v", err)
	}
	pctx, cancel := short()
	if _, err := gst.Put(pctx, "ns1", []byte("forged")); err == nil {
		t.Error("gateway wrote a syncer's status")
	}
	cancel()

	ops := connect("ops", userPW)
	pctx, cancel = short()
	if okv, err := ops.KeyValue(pctx, DefaultGatewayBucket); err == nil {
		if e, err := okv.Get(pctx, "tsig.kea"); err == nil {
			t.Errorf("reader read the gateway's secret %q", e.Value())
		}
	}
	cancel()
	rst, err := ops.KeyValue(ctx, DefaultStatusBucket)
	if err != nil {
		t.Fatalf("reader opening the status bucket: %v", err)
	}
	pctx, cancel = short()
	if _, err := rst.Put(pctx, "ns1", []byte("forged")); err == nil {
		t.Error("reader wrote a syncer's status")
	}
	cancel()
}

// permServer is an embedded server with the unrestricted test user and
// the users of a users file; every listed user shares one password.
type permServer struct {
	ctx     context.Context
	srv     *server.Server
	adminPW string // password file of the unrestricted user
	userPW  string // password file of every listed user
}

// startPermServer starts it; users renders the users file from the
// listed users' bcrypt hash.
func startPermServer(t *testing.T, name string, users func(hash string) string) *permServer {
	t.Helper()
	dir := t.TempDir()
	ps := &permServer{adminPW: filepath.Join(dir, "admin"), userPW: filepath.Join(dir, "user")}
	pw, err := EnsurePassword(ps.adminPW)
	if err != nil {
		t.Fatal(err)
	}
	upw, err := EnsurePassword(ps.userPW)
	if err != nil {
		t.Fatal(err)
	}
	hash, err := bcrypt.GenerateFromPassword([]byte(upw), bcrypt.MinCost)
	if err != nil {
		t.Fatal(err)
	}
	specs, err := ParseUsers(strings.NewReader(users(string(hash))))
	if err != nil {
		t.Fatal(err)
	}
	ps.srv, err = StartEmbedded(ServerConfig{StoreDir: filepath.Join(dir, "js"), Listen: "127.0.0.1:0",
		User: testUser, Password: pw, Name: name, Users: specs, Log: testLog()})
	if err != nil {
		t.Fatal(err)
	}
	t.Cleanup(func() { ps.srv.Shutdown(); ps.srv.WaitForShutdown() })
	ps.ctx = ctxFor(t, 60*time.Second)
	return ps
}

// conn connects as user with the password in pwFile.
func (ps *permServer) conn(t *testing.T, user, pwFile string) *nats.Conn {
	t.Helper()
	nc, err := Connect(ps.ctx, ClientConfig{URL: ps.srv.ClientURL(), User: user, PasswordFile: pwFile}, testLog())
	if err != nil {
		t.Fatalf("connecting as %s: %v", user, err)
	}
	t.Cleanup(nc.Close)
	return nc
}

// js is conn with a JetStream context.
func (ps *permServer) js(t *testing.T, user, pwFile string) jetstream.JetStream {
	t.Helper()
	js, err := jetstream.New(ps.conn(t, user, pwFile))
	if err != nil {
		t.Fatal(err)
	}
	return js
}

// TestSyncerZones: a syncer user whose entry lists zones may publish there
// (the tombstones of ended leases, internal/reap), but not as a source's
// origin, and nowhere else; one without zones publishes no record at all. A source user reads no
// messages: it cannot follow the stream.
func TestSyncerZones(t *testing.T) {
	t.Parallel()
	ps := startPermServer(t, "syncerzones", func(h string) string {
		return `{"users":[
		{"user":"ns2","password_hash":"` + h + `","role":"syncer","node":"ns2","zones":["a.example"]},
		{"user":"ns3","password_hash":"` + h + `","role":"syncer","node":"ns3"},
		{"user":"w1","password_hash":"` + h + `","role":"source","origin":"h1","zones":["a.example"]}]}`
	})
	ctx := ps.ctx
	admin := ps.js(t, testUser, ps.adminPW)
	if _, err := EnsureStream(ctx, admin, StreamConfig{}); err != nil {
		t.Fatal(err)
	}
	tomb := func(name string) events.Message {
		return events.Message{Version: 1, Name: name, Type: "A", Origin: "dhcp"}
	}
	try := func(user string, m events.Message) error {
		pctx, cancel := context.WithTimeout(ctx, 2*time.Second)
		defer cancel()
		_, err := NewPublisher(ps.js(t, user, ps.userPW), "", "").Publish(pctx, m, 0)
		return err
	}
	if err := try("ns2", tomb("x.a.example.")); err != nil {
		t.Errorf("syncer with zone a.example publishing a tombstone there: %v", err)
	}
	if try("ns2", tomb("x.b.example.")) == nil {
		t.Error("syncer published outside its zones")
	}
	if try("ns3", tomb("x.a.example.")) == nil {
		t.Error("syncer without zones published a record")
	}
	src := tomb("x.a.example.")
	src.Origin = "h1"
	if try("ns2", src) == nil {
		t.Error("syncer published as a source's origin")
	}
	fctx, cancel := context.WithTimeout(ctx, 3*time.Second)
	defer cancel()
	got := 0 // the stream holds ns2's tombstone
	_ = Follow(fctx, ps.js(t, "w1", ps.userPW), FollowConfig{Handle: func(events.Delivery) { got++ }, Log: zerolog.Nop()})
	if got > 0 {
		t.Errorf("a source user read %d messages of the stream", got)
	}
}

// TestOutdatedStreamSyncerUser: a syncer user may not update the stream,
// so on a stream an older zonecast made (roll-ups and delete markers on)
// it runs on the stream as it is, and says so, rather than never start.
func TestOutdatedStreamSyncerUser(t *testing.T) {
	t.Parallel()
	ps := startPermServer(t, "outdated", func(h string) string {
		return `{"users":[{"user":"ns2","password_hash":"` + h + `","role":"syncer","node":"ns2"}]}`
	})
	old := StreamConfig{}.withDefaults().jsConfig()
	old.AllowRollup, old.SubjectDeleteMarkerTTL = true, 15*time.Minute
	if _, err := ps.js(t, testUser, ps.adminPW).CreateStream(ps.ctx, old); err != nil {
		t.Fatal(err)
	}
	ctx, cancel := context.WithTimeout(ps.ctx, 30*time.Second)
	defer cancel()
	st, err := EnsureStreamWait(ctx, ps.js(t, "ns2", ps.userPW), StreamConfig{}, testLog())
	if err != nil || st == nil {
		t.Fatalf("syncer user on an outdated stream: %v", err)
	}
	if !st.CachedInfo().Config.AllowRollup {
		t.Fatal("a syncer user updated the stream")
	}
}

// TestSignerPermissions: a signer user follows the record stream,
// publishes its signed zones (atomic batches too) as its own origin in its
// zones and nothing else, writes its own status and reads no gateway
// secret; no source, gateway or syncer user publishes signed subjects.
func TestSignerPermissions(t *testing.T) {
	t.Parallel()
	ps := startPermServer(t, "signerperm", func(h string) string {
		return `{"users":[
		{"user":"sg","password_hash":"` + h + `","role":"signer","origin":"signer1","zones":["a.example"]},
		{"user":"w1","password_hash":"` + h + `","role":"source","origin":"h1","zones":["a.example"]},
		{"user":"gw","password_hash":"` + h + `","role":"gateway","zones":["a.example"]},
		{"user":"ns2","password_hash":"` + h + `","role":"syncer","node":"ns2","zones":["a.example"]}]}`
	})
	ctx := ps.ctx
	admin := ps.js(t, testUser, ps.adminPW)
	st, err := EnsureStream(ctx, admin, StreamConfig{})
	if err != nil {
		t.Fatal(err)
	}
	if _, err := StatusBucket(ctx, admin, "", 1, testLog()); err != nil {
		t.Fatal(err)
	}
	if _, err := admin.CreateKeyValue(ctx, jetstream.KeyValueConfig{Bucket: DefaultGatewayBucket}); err != nil {
		t.Fatal(err)
	}
	rec := func(name, origin string) events.Message {
		return events.Message{Version: 1, Name: name, Type: "A", Origin: origin, TTL: 60, Records: []string{"192.0.2.1"}}
	}
	if _, err := NewPublisher(ps.js(t, "w1", ps.userPW), "", "").Publish(ctx, rec("web.a.example.", "h1"), 0); err != nil {
		t.Fatal(err)
	}
	sg := ps.js(t, "sg", ps.userPW)
	signed := NewPublisher(sg, "", events.DefaultSignedPrefix)
	short := func() (context.Context, context.CancelFunc) { return context.WithTimeout(ctx, 2*time.Second) }
	if _, err := signed.PublishAtomic(ctx, []events.Message{rec("web.a.example.", "signer1"), rec("a.example.", "signer1")}); err != nil {
		t.Errorf("signer publishing a batch in its zone: %v", err)
	}
	if _, err := signed.Publish(ctx, rec("x.a.example.", "signer1"), 0); err != nil {
		t.Errorf("signer publishing in its zone: %v", err)
	}
	refused := map[string]struct {
		pub   *Publisher
		m     events.Message
		batch bool
	}{
		"signer, record subject":    {pub: NewPublisher(sg, "", ""), m: rec("web.a.example.", "signer1")},
		"signer, other origin":      {pub: signed, m: rec("web.a.example.", "signer2")},
		"signer, outside its zones": {pub: signed, m: rec("web.b.example.", "signer1")},
		"signer, batch outside":     {pub: signed, m: rec("web.b.example.", "signer1"), batch: true},
		"source, signed subject":    {pub: NewPublisher(ps.js(t, "w1", ps.userPW), "", events.DefaultSignedPrefix), m: rec("web.a.example.", "h1")},
		"gateway, signed subject":   {pub: NewPublisher(ps.js(t, "gw", ps.userPW), "", events.DefaultSignedPrefix), m: rec("web.a.example.", "key-kea")},
		"gateway, signed batch":     {pub: NewPublisher(ps.js(t, "gw", ps.userPW), "", events.DefaultSignedPrefix), m: rec("web.a.example.", "signer1"), batch: true},
		"syncer, signed subject":    {pub: NewPublisher(ps.js(t, "ns2", ps.userPW), "", events.DefaultSignedPrefix), m: rec("web.a.example.", "dhcp")},
	}
	for name, tc := range refused {
		pctx, cancel := short()
		var err error
		if tc.batch {
			_, err = tc.pub.PublishAtomic(pctx, []events.Message{tc.m})
		} else {
			_, err = tc.pub.Publish(pctx, tc.m, 0)
		}
		cancel()
		if err == nil {
			t.Errorf("%s: stored", name)
		}
	}
	info, err := st.Info(ctx)
	if err != nil {
		t.Fatal(err)
	}
	if info.State.Msgs != 4 {
		t.Errorf("stream holds %d messages, want the 4 allowed", info.State.Msgs)
	}

	// It follows the record stream.
	fctx, fcancel := context.WithCancel(ctx)
	defer fcancel()
	got := make(chan events.Delivery, 10)
	go func() {
		_ = Follow(fctx, sg, FollowConfig{Filters: []string{events.ZoneFilter(events.DefaultSubjectPrefix, "a.example.")},
			Handle: func(d events.Delivery) { got <- d }, Log: testLog()})
	}()
	select {
	case d := <-got:
		if d.Subject != "zonecast.rr.h1.example.a.web.A" {
			t.Errorf("signer followed %s", d.Subject)
		}
	case <-time.After(10 * time.Second):
		t.Fatal("signer user received no record")
	}
	fcancel()

	kv, err := sg.KeyValue(ctx, DefaultStatusBucket)
	if err != nil {
		t.Fatalf("signer opening the status bucket: %v", err)
	}
	if _, err := kv.Put(ctx, "signer1", []byte("{}")); err != nil {
		t.Errorf("signer writing its own status: %v", err)
	}
	pctx, cancel := short()
	if _, err := kv.Put(pctx, "ns2", []byte("{}")); err == nil {
		t.Error("signer wrote a syncer's status")
	}
	cancel()
	pctx, cancel = short()
	if gkv, err := sg.KeyValue(pctx, DefaultGatewayBucket); err == nil {
		if e, err := gkv.Get(pctx, "tsig.kea"); err == nil || !errors.Is(err, jetstream.ErrKeyNotFound) {
			t.Errorf("signer reading the gateway's bucket: %v, %v", e, err)
		}
	}
	cancel()
}

// TestZoneListPermissions: only admin edits the zone list; a syncer
// creates the bucket and follows it, a reader reads it, and neither
// writes it; sources and gateways follow it with a watch and can do
// nothing else there; signers do not read it.
func TestZoneListPermissions(t *testing.T) {
	t.Parallel()
	ps := startPermServer(t, "zonelistperm", func(h string) string {
		return `{"users":[
		{"user":"ns2","password_hash":"` + h + `","role":"syncer","node":"ns2"},
		{"user":"ops","password_hash":"` + h + `","role":"reader"},
		{"user":"w1","password_hash":"` + h + `","role":"source","origin":"h1","zones":["a.example"]},
		{"user":"gw","password_hash":"` + h + `","role":"gateway","zones":["a.example"]},
		{"user":"sg","password_hash":"` + h + `","role":"signer","origin":"signer1","zones":["a.example"]}]}`
	})
	ctx := ps.ctx
	short := func() (context.Context, context.CancelFunc) { return context.WithTimeout(ctx, 2*time.Second) }
	syn := ps.js(t, "ns2", ps.userPW)
	// The bucket as zonestore.Ensure makes it, by a syncer at its start.
	skv, err := syn.CreateKeyValue(ctx, jetstream.KeyValueConfig{Bucket: DefaultZoneBucket, History: 1, Storage: jetstream.FileStorage})
	if err != nil {
		t.Fatalf("syncer creating the zone list: %v", err)
	}
	akv, err := ps.js(t, testUser, ps.adminPW).KeyValue(ctx, DefaultZoneBucket)
	if err != nil {
		t.Fatal(err)
	}
	if _, err := akv.Put(ctx, "a.example", []byte(`{"v":1}`)); err != nil {
		t.Fatalf("admin adding a zone: %v", err)
	}
	if e, err := skv.Get(ctx, "a.example"); err != nil || string(e.Value()) != `{"v":1}` {
		t.Fatalf("syncer reading the zone list: %v", err)
	}
	w, err := skv.WatchAll(ctx)
	if err != nil {
		t.Fatalf("syncer following the zone list: %v", err)
	}
	if e := <-w.Updates(); e == nil || e.Key() != "a.example" {
		t.Fatalf("syncer watch: first update %v", e)
	}
	_ = w.Stop()
	rkv, err := ps.js(t, "ops", ps.userPW).KeyValue(ctx, DefaultZoneBucket)
	if err != nil {
		t.Fatalf("reader opening the zone list: %v", err)
	}
	if _, err := rkv.Get(ctx, "a.example"); err != nil {
		t.Errorf("reader reading the zone list: %v", err)
	}
	for who, kv := range map[string]jetstream.KeyValue{"syncer": skv, "reader": rkv} {
		pctx, cancel := short()
		if _, err := kv.Put(pctx, "b.example", []byte(`{"v":1}`)); err == nil {
			t.Errorf("%s added a zone", who)
		}
		cancel()
		pctx, cancel = short()
		if err := kv.Delete(pctx, "a.example"); err == nil {
			t.Errorf("%s removed a zone", who)
		}
		cancel()
	}
	// Sources and gateways follow it with a watch, and that is all.
	var wg sync.WaitGroup
	for _, user := range []string{"w1", "gw"} {
		js := ps.js(t, user, ps.userPW)
		kv, err := js.KeyValue(ctx, DefaultZoneBucket)
		if err != nil {
			t.Fatalf("%s opening the zone list: %v", user, err)
		}
		wctx, cancel := short()
		var keys []string
		err = FollowKV(wctx, kv, "zone list", func(e jetstream.KeyValueEntry) { keys = append(keys, e.Key()) }, cancel)
		cancel()
		if err != nil || !slices.Equal(keys, []string{"a.example"}) {
			t.Errorf("%s following the zone list: %v, keys %v", user, err, keys)
		}
		st, err := js.Stream(ctx, "KV_"+DefaultZoneBucket)
		if err != nil {
			t.Fatalf("%s looking the zone list's stream up: %v", user, err)
		}
		// Each denied request waits for its own timeout: together.
		for what, op := range map[string]func(context.Context) error{
			"added a zone": func(c context.Context) error { _, err := kv.Put(c, "b.example", []byte(`{"v":1}`)); return err },
			"created a zone": func(c context.Context) error {
				_, err := kv.Create(c, "b.example", []byte(`{"v":1}`))
				return err
			},
			"removed a zone":                func(c context.Context) error { return kv.Delete(c, "a.example") },
			"purged a zone":                 func(c context.Context) error { return kv.Purge(c, "a.example") },
			"read a value directly":         func(c context.Context) error { _, err := kv.Get(c, "a.example"); return err },
			"deleted the zone list":         func(c context.Context) error { return js.DeleteKeyValue(c, DefaultZoneBucket) },
			"purged the zone list's stream": func(c context.Context) error { return st.Purge(c) },
			"changed the zone list's bucket": func(c context.Context) error {
				_, err := js.UpdateKeyValue(c, jetstream.KeyValueConfig{Bucket: DefaultZoneBucket, History: 5})
				return err
			},
		} {
			wg.Go(func() {
				pctx, cancel := short()
				defer cancel()
				if err := op(pctx); err == nil {
					t.Errorf("%s %s", user, what)
				}
			})
		}
	}
	wg.Wait()
	pctx, cancel := short()
	if kv, err := ps.js(t, "sg", ps.userPW).KeyValue(pctx, DefaultZoneBucket); err == nil {
		if _, err := kv.Get(pctx, "a.example"); err == nil {
			t.Errorf("sg read the zone list")
		}
		if _, err := kv.Put(pctx, "b.example", []byte(`{"v":1}`)); err == nil {
			t.Errorf("sg added a zone")
		}
	}
	cancel()
	if e, err := akv.Get(ctx, "a.example"); err != nil || string(e.Value()) != `{"v":1}` {
		t.Fatalf("the zone list changed: %v", err)
	}
	if _, err := akv.Get(ctx, "b.example"); !errors.Is(err, jetstream.ErrKeyNotFound) {
		t.Fatalf("b.example listed: %v", err)
	}
}
