package lxdwatch

import (
	"context"
	"errors"
	"fmt"
	"net/http"
	"slices"
	"sync"
	"time"

	lxd "github.com/canonical/lxd/client"
	"github.com/canonical/lxd/shared/api"
	"github.com/rs/zerolog"

	"github.com/zonecast/zonecast/internal/events"
	"github.com/zonecast/zonecast/internal/instance"
	"github.com/zonecast/zonecast/internal/retry"
	"github.com/zonecast/zonecast/internal/rrset"
)

// Publisher publishes one message (a set or a tombstone) with a lease: the
// message expires after lease unless published again.
type Publisher interface {
	Publish(ctx context.Context, m events.Message, lease time.Duration) (seq uint64, err error)
}

// Defaults of Options.
const (
	DefaultPollInterval   = 30 * time.Second
	DefaultFastInterval   = 200 * time.Millisecond
	DefaultFastWindow     = 30 * time.Second
	DefaultLease          = 10 * time.Minute
	DefaultBackoffMin     = 500 * time.Millisecond
	DefaultBackoffMax     = 30 * time.Second
	DefaultRequestTimeout = 30 * time.Second
	maxConcurrentFetches  = 8
)

// Options tune the follower; zero values take the defaults.
type Options struct {
	// Projects limits the follower to these LXD projects; empty means all.
	Projects []string
	// PollInterval between full resyncs (address changes have no event).
	PollInterval time.Duration
	// FastInterval and FastWindow: after a start, poll the instance every
	// FastInterval for FastWindow, or until it has both an A and an AAAA.
	FastInterval, FastWindow time.Duration
	// Lease passed with every publish; records are published again every
	// RefreshEvery (default Lease/3) so that they never expire while the
	// watcher lives.
	Lease, RefreshEvery time.Duration
	// DryRun logs what would be published and publishes nothing.
	DryRun bool
	// BackoffMin and BackoffMax bound the reconnect and retry delays,
	// before their jitter (up to a fifth more).
	BackoffMin, BackoffMax time.Duration
	// RequestTimeout bounds each LXD request and each publish.
	RequestTimeout time.Duration
	// Now is the clock (time.Now by default).
	Now func() time.Time
	// Observer is told of connections and full syncs (nil: nobody).
	Observer Observer
	// Previous, if set, lists the RRsets this origin has messages for in
	// the stream (bus.OriginKeys), asked once at start. After the first
	// full listing of LXD, those that no instance maps to any more are
	// withdrawn: instances deleted while the watcher was down do not wait
	// for their lease. If it fails, they do (and a warning says so).
	Previous func(ctx context.Context) ([]rrset.Key, error)
	// Writable, if set, says whether the zone of a name may be written
	// into now (the fleet's zone list, internal/zonegate): a refused
	// name's records are neither published nor withdrawn, and what was
	// published there before is no longer refreshed (its lease runs
	// out). Nil: every name.
	Writable func(name string) bool
	// WritableChanged receives a value when Writable's answers may have
	// changed: the follower then publishes what it held back, and stops
	// refreshing what it may no longer write.
	WritableChanged <-chan struct{}
	// Skipped, if set, is told of each RRset held back by Writable, once
	// until it is published or no longer desired.
	Skipped func(m events.Message)
}

func (o Options) withDefaults() Options {
	def := func(d *time.Duration, v time.Duration) {
		if *d <= 0 {
			*d = v
		}
	}
	def(&o.PollInterval, DefaultPollInterval)
	def(&o.FastInterval, DefaultFastInterval)
	def(&o.FastWindow, DefaultFastWindow)
	def(&o.Lease, DefaultLease)
	def(&o.RefreshEvery, o.Lease/3)
	def(&o.BackoffMin, DefaultBackoffMin)
	def(&o.BackoffMax, DefaultBackoffMax)
	def(&o.RequestTimeout, DefaultRequestTimeout)
	if o.Now == nil {
		o.Now = time.Now
	}
	if o.Observer == nil {
		o.Observer = nopObserver{}
	}
	return o
}

// backoff is the schedule of the reconnections to LXD and of the retries
// of failed publishes. Its jitter matters for the latter: the watchers of
// many LXD hosts lose the same NATS together.
func (o Options) backoff() retry.Backoff {
	return retry.Backoff{Min: o.BackoffMin, Max: o.BackoffMax, Jitter: 0.2}
}

// Follower follows one LXD server and publishes its instances' records.
type Follower struct {
	srv    lxd.InstanceServer
	mapper *instance.Mapper
	pub    Publisher
	log    zerolog.Logger
	opt    Options
	origin string
	// subscribe connects to the lifecycle events: subscribeLXD, or a
	// test's stand-in.
	subscribe subscribeFunc
}

// New returns a follower. pub may be nil only in DryRun mode.
func New(srv lxd.InstanceServer, mapper *instance.Mapper, pub Publisher, log zerolog.Logger, opt Options) (*Follower, error) {
	if srv == nil || mapper == nil {
		return nil, errors.New("lxdwatch: nil lxd client or mapper")
	}
	if pub == nil && !opt.DryRun {
		return nil, errors.New("lxdwatch: no publisher (and not a dry run)")
	}
	opt = opt.withDefaults()
	f := &Follower{
		srv: srv, mapper: mapper, pub: pub, opt: opt,
		origin: mapper.Config().Origin,
		log:    log.With().Str("component", "lxdwatch").Str("origin", mapper.Config().Origin).Logger(),
	}
	f.subscribe = f.subscribeLXD
	return f, nil
}

// result is the outcome of one fetch: one instance (Full false) or all the
// followed instances (Full true), as LXD saw them at generation Gen or later.
type result struct {
	Gen   uint64
	Full  bool
	Ref   ref                 // single fetch
	Insts []instance.Instance // single: 0 (gone) or 1; full: all
	Err   error
}

// state is the loop's, touched by the loop goroutine only.
type state struct {
	gen       uint64
	fullGen   uint64         // generation of the last applied full sync
	lastGen   map[ref]uint64 // generation of the last applied view of an instance
	desired   map[ref][]events.Message
	published map[rrset.Key]events.Message
	// previous holds what Options.Previous found, until the first full
	// listing is applied (only then is it known what is gone).
	previous  []rrset.Key
	fast      map[ref]time.Time // fast-poll deadline
	inflight  map[ref]bool
	again     map[ref]bool // refetch when the in-flight fetch returns
	fullBusy  bool
	fullAgain bool
	failed    bool // a publish failed: retry later
	retries   int
	// skipped are the desired RRsets Writable held back at the last
	// reconcile.
	skipped map[rrset.Key]bool
	// synced counts the followed instances of the last applied full
	// listing, or is -1 when no full listing awaits its publication.
	synced int
}

// Run follows LXD until ctx ends. It returns nil when ctx is cancelled and
// never withdraws records then: the instances keep running, and the lease
// covers a watcher that never comes back.
func (f *Follower) Run(ctx context.Context) error {
	ctx, cancel := context.WithCancel(ctx)
	var wg sync.WaitGroup
	defer wg.Wait()
	defer cancel()

	triggers := make(chan trigger, 1024)
	resync := make(chan struct{}, 1)
	results := make(chan result, 64)
	sem := make(chan struct{}, maxConcurrentFetches)

	wg.Add(1)
	go func() {
		defer wg.Done()
		f.listen(ctx, triggers, resync)
	}()

	st := &state{
		lastGen: map[ref]uint64{}, desired: map[ref][]events.Message{},
		published: map[rrset.Key]events.Message{}, fast: map[ref]time.Time{},
		inflight: map[ref]bool{}, again: map[ref]bool{}, synced: -1, skipped: map[rrset.Key]bool{},
	}
	st.previous = f.previous(ctx)
	startFull := func() {
		if st.fullBusy {
			st.fullAgain = true
			return
		}
		st.fullBusy = true
		st.gen++
		gen := st.gen
		wg.Add(1)
		go func() {
			defer wg.Done()
			insts, err := f.fetchAll(ctx)
			select {
			case results <- result{Gen: gen, Full: true, Insts: insts, Err: err}:
			case <-ctx.Done():
			}
		}()
	}
	startOne := func(r ref) {
		if st.inflight[r] {
			st.again[r] = true
			return
		}
		st.inflight[r] = true
		st.gen++
		gen := st.gen
		wg.Add(1)
		go func() {
			defer wg.Done()
			select {
			case sem <- struct{}{}:
			case <-ctx.Done():
				return
			}
			inst, err := f.fetchOne(ctx, r)
			<-sem
			select {
			case results <- result{Gen: gen, Ref: r, Insts: inst, Err: err}:
			case <-ctx.Done():
			}
		}()
	}

	poll := time.NewTicker(f.opt.PollInterval)
	defer poll.Stop()
	fastTick := time.NewTicker(f.opt.FastInterval)
	defer fastTick.Stop()
	refresh := time.NewTicker(f.opt.RefreshEvery)
	defer refresh.Stop()
	again := time.NewTimer(time.Hour) // the next reconcile after a failed publish
	again.Stop()
	defer again.Stop()
	backoff := f.opt.backoff()

	reconcile := func() {
		if f.reconcile(ctx, st) {
			st.retries = 0
			if st.synced >= 0 {
				f.opt.Observer.Synced(st.synced, f.opt.Now())
				st.synced = -1
			}
			return
		}
		again.Reset(backoff.Delay(st.retries))
		st.retries++
	}

	startFull()
	for {
		select {
		case <-ctx.Done():
			f.log.Info().Int("rrsets", len(st.published)).Msg("stopping; records stay published until their lease ends")
			return nil
		case <-resync:
			startFull()
		case t := <-triggers:
			if !f.followed(t.Refs[0].Project) {
				continue
			}
			f.log.Debug().Str("action", t.Action).Str("instance", t.Refs[0].String()).Msg("lifecycle event")
			for _, r := range t.Refs {
				if t.Fast {
					st.fast[r] = f.opt.Now().Add(f.opt.FastWindow)
				}
				startOne(r)
			}
		case <-fastTick.C:
			now := f.opt.Now()
			for r, until := range st.fast {
				if now.After(until) {
					delete(st.fast, r)
					continue
				}
				if !st.inflight[r] {
					startOne(r)
				}
			}
		case <-poll.C:
			startFull()
		case <-refresh.C:
			f.refresh(ctx, st)
		case <-f.opt.WritableChanged:
			f.unwritable(st)
			reconcile()
		case <-again.C:
			reconcile()
		case res := <-results:
			if res.Full {
				st.fullBusy = false
				if f.applyFull(st, res) || st.synced >= 0 {
					reconcile()
				}
				if st.fullAgain {
					st.fullAgain = false
					startFull()
				}
				continue
			}
			delete(st.inflight, res.Ref)
			if f.applyOne(st, res) {
				reconcile()
			}
			if st.again[res.Ref] {
				delete(st.again, res.Ref)
				startOne(res.Ref)
			}
		}
	}
}

func (f *Follower) followed(project string) bool {
	return len(f.opt.Projects) == 0 || slices.Contains(f.opt.Projects, project)
}

// scoped returns a client for project ("" keeps the client's) whose
// requests end with ctx. UseProject returns a fresh copy, so setting its
// context does not touch the shared client.
func (f *Follower) scoped(ctx context.Context, project string) lxd.InstanceServer {
	c := f.srv.UseProject(project)
	if wc, ok := c.(interface {
		WithContext(context.Context) lxd.InstanceServer
	}); ok {
		c = wc.WithContext(ctx)
	}
	return c
}

func (f *Follower) fetchOne(ctx context.Context, r ref) ([]instance.Instance, error) {
	ctx, cancel := context.WithTimeout(ctx, f.opt.RequestTimeout)
	defer cancel()
	full, _, err := f.scoped(ctx, r.Project).GetInstanceFull(r.Name)
	if err != nil {
		if api.StatusErrorCheck(err, http.StatusNotFound) {
			return nil, nil
		}
		return nil, fmt.Errorf("getting instance %s: %w", r, err)
	}
	inst := instance.FromFull(*full)
	if inst.Project == "" {
		inst.Project = r.Project
	}
	return []instance.Instance{inst}, nil
}

func (f *Follower) fetchAll(ctx context.Context) ([]instance.Instance, error) {
	ctx, cancel := context.WithTimeout(ctx, f.opt.RequestTimeout)
	defer cancel()
	var out []instance.Instance
	if len(f.opt.Projects) == 0 {
		fulls, err := f.scoped(ctx, "").GetInstancesFullAllProjects(api.InstanceTypeAny)
		if err != nil {
			return nil, fmt.Errorf("listing instances of all projects: %w", err)
		}
		for _, fl := range fulls {
			out = append(out, instance.FromFull(fl))
		}
		return out, nil
	}
	for _, p := range f.opt.Projects {
		fulls, err := f.scoped(ctx, p).GetInstancesFull(api.InstanceTypeAny)
		if err != nil {
			return nil, fmt.Errorf("listing instances of project %s: %w", p, err)
		}
		for _, fl := range fulls {
			inst := instance.FromFull(fl)
			if inst.Project == "" {
				inst.Project = p
			}
			out = append(out, inst)
		}
	}
	return out, nil
}

func refOf(inst instance.Instance) ref {
	p := inst.Project
	if p == "" {
		p = instance.DefaultProject
	}
	return ref{Project: p, Name: inst.Name}
}

// applyOne records the fetched view of one instance; it reports whether
// the desired records changed.
func (f *Follower) applyOne(st *state, res result) bool {
	if res.Err != nil {
		f.log.Warn().Err(res.Err).Str("instance", res.Ref.String()).Msg("fetching instance failed; keeping its records")
		return false
	}
	if res.Gen <= st.lastGen[res.Ref] || res.Gen <= st.fullGen {
		return false // a newer view was applied already
	}
	st.lastGen[res.Ref] = res.Gen
	if len(res.Insts) == 0 {
		delete(st.fast, res.Ref)
		return f.setDesired(st, res.Ref, nil)
	}
	msgs := f.mapInstance(res.Insts[0])
	if f.settled(msgs) {
		delete(st.fast, res.Ref)
	}
	return f.setDesired(st, res.Ref, msgs)
}

// applyFull records a full listing; instances missing from it are gone
// unless a newer single view says otherwise.
func (f *Follower) applyFull(st *state, res result) bool {
	if res.Err != nil {
		f.log.Warn().Err(res.Err).Msg("listing instances failed; keeping all records")
		return false
	}
	if res.Gen <= st.fullGen {
		return false
	}
	st.fullGen = res.Gen
	changed := f.inherit(st)
	seen := make(map[ref]bool, len(res.Insts))
	for _, inst := range res.Insts {
		r := refOf(inst)
		if !f.followed(r.Project) {
			continue
		}
		seen[r] = true
		if st.lastGen[r] > res.Gen {
			continue
		}
		st.lastGen[r] = res.Gen
		msgs := f.mapInstance(inst)
		if f.setDesired(st, r, msgs) {
			changed = true
		}
		if (inst.StatusCode == api.Running || inst.Status == api.Running.String()) && !f.settled(msgs) {
			// Running, its addresses still coming (its start event fell
			// in a reconnection, or before the watcher started): no event
			// will say when they are there.
			if _, ok := st.fast[r]; !ok {
				st.fast[r] = f.opt.Now().Add(f.opt.FastWindow)
			}
		}
	}
	st.synced = len(seen)
	for r := range st.desired {
		if !seen[r] && st.lastGen[r] < res.Gen {
			if f.setDesired(st, r, nil) {
				changed = true
			}
		}
	}
	for r, g := range st.lastGen {
		if !seen[r] && g < res.Gen {
			delete(st.lastGen, r) // fullGen now guards against stale views
		}
	}
	return changed
}

func (f *Follower) mapInstance(inst instance.Instance) []events.Message {
	res, err := f.mapper.Records(inst)
	r := refOf(inst)
	if err != nil {
		f.log.Warn().Err(err).Str("instance", r.String()).Msg("instance not published")
		return nil
	}
	for _, w := range res.Warnings {
		f.log.Warn().Err(w).Str("instance", r.String()).Msg("instance setting ignored")
	}
	return res.Messages
}

// settled reports whether fast polling may stop: the instance has the
// address families it can have.
func (f *Follower) settled(msgs []events.Message) bool {
	cfg := f.mapper.Config()
	var a, aaaa bool
	for _, m := range msgs {
		a = a || m.Type == "A"
		aaaa = aaaa || m.Type == "AAAA"
	}
	return (a || cfg.NoA) && (aaaa || cfg.NoAAAA)
}

func (f *Follower) setDesired(st *state, r ref, msgs []events.Message) bool {
	old, had := st.desired[r]
	if len(msgs) == 0 {
		delete(st.desired, r)
		return had
	}
	if had && slices.EqualFunc(old, msgs, func(a, b events.Message) bool {
		return a.Key() == b.Key() && a.TTL == b.TTL && slices.Equal(a.Records, b.Records)
	}) {
		return false
	}
	st.desired[r] = msgs
	return true
}

// reconcile publishes the difference between what is desired and what was
// published; it reports false when a publish failed (retry later).
func (f *Follower) reconcile(ctx context.Context, st *state) bool {
	var all []events.Message
	for _, msgs := range st.desired {
		all = append(all, msgs...)
	}
	ch := instance.Diff(f.origin, st.published, instance.Index(all))
	if !ch.HasChanges() {
		clear(st.skipped)
		return true
	}
	skipped := map[rrset.Key]bool{}
	for _, m := range ch.Publish {
		if !f.writable(m.Name) {
			f.skip(st, skipped, m)
			continue
		}
		if err := f.publish(ctx, m, "publish"); err != nil {
			return false
		}
		st.published[m.Key()] = m
	}
	for _, m := range ch.Tombstones {
		if !f.writable(m.Name) { // not ours to withdraw any more: the lease ends it
			delete(st.published, m.Key())
			continue
		}
		if err := f.publish(ctx, m, "withdraw"); err != nil {
			return false
		}
		delete(st.published, m.Key())
	}
	st.skipped = skipped
	return true
}

func (f *Follower) writable(name string) bool { return f.opt.Writable == nil || f.opt.Writable(name) }

// skip holds m back: logged and reported the first time only.
func (f *Follower) skip(st *state, skipped map[rrset.Key]bool, m events.Message) {
	skipped[m.Key()] = true
	if st.skipped[m.Key()] {
		return
	}
	f.log.Warn().Str("name", m.Name).Str("type", m.Type).Msg("not publishing: the name's zone is not in the fleet's zone list")
	if f.opt.Skipped != nil {
		f.opt.Skipped(m)
	}
}

// unwritable forgets what was published into names no longer writable:
// it is not refreshed (its lease ends it), and published again once
// writable.
func (f *Follower) unwritable(st *state) {
	n := 0
	for k, m := range st.published {
		if !f.writable(m.Name) {
			delete(st.published, k)
			n++
		}
	}
	if n > 0 {
		f.log.Warn().Int("rrsets", n).Msg("zone list changed: records in zones no longer listed are not refreshed any more; their lease ends them")
	}
}

// previous asks Options.Previous what this origin published before.
func (f *Follower) previous(ctx context.Context) []rrset.Key {
	if f.opt.Previous == nil {
		return nil
	}
	ctx, cancel := context.WithTimeout(ctx, f.opt.RequestTimeout)
	defer cancel()
	keys, err := f.opt.Previous(ctx)
	if err != nil {
		if ctx.Err() == nil {
			f.log.Warn().Err(err).Msg("cannot list what this origin published before; " +
				"records of instances deleted while the watcher was down stay until their lease ends")
		}
		return nil
	}
	f.log.Info().Int("rrsets", len(keys)).Msg("found this origin's records in the stream; " +
		"those of instances gone since are withdrawn after the first full sync")
	return keys
}

// inherit makes what this origin published before it started count as
// published, once the first full listing is applied: the next reconcile
// then withdraws what no instance maps to and publishes the rest again.
// It reports whether there was anything to inherit.
func (f *Follower) inherit(st *state) bool {
	if len(st.previous) == 0 {
		return false
	}
	for _, k := range st.previous {
		if _, ok := st.published[k]; !ok {
			// Content unknown: never equal to a desired message, so a
			// record still desired is published again (with a fresh lease).
			st.published[k] = instance.Tombstone(f.origin, k)
		}
	}
	st.previous = nil
	return true
}

// refresh publishes every record again so that its lease never runs out.
func (f *Follower) refresh(ctx context.Context, st *state) {
	keys := make([]rrset.Key, 0, len(st.published))
	for k, m := range st.published {
		if m.Tombstone() || !f.writable(m.Name) {
			continue // inherited and not reconciled yet, or no longer writable: nothing to refresh
		}
		keys = append(keys, k)
	}
	rrset.SortKeys(keys)
	for _, k := range keys {
		if err := f.publish(ctx, st.published[k], "refresh"); err != nil {
			return // the next refresh, one third of a lease later, tries again
		}
	}
	f.log.Debug().Int("rrsets", len(keys)).Msg("refreshed leases")
}

func (f *Follower) publish(ctx context.Context, m events.Message, what string) error {
	ev := f.log.Info()
	if what == "refresh" {
		ev = f.log.Debug()
	}
	ev = ev.Str("name", m.Name).Str("type", m.Type).Strs("records", m.Records)
	if f.opt.DryRun {
		ev.Bool("dry_run", true).Msg("would " + what)
		return nil
	}
	pctx, cancel := context.WithTimeout(ctx, f.opt.RequestTimeout)
	defer cancel()
	seq, err := f.pub.Publish(pctx, m, f.opt.Lease)
	if err != nil {
		if ctx.Err() == nil {
			f.log.Warn().Err(err).Str("name", m.Name).Str("type", m.Type).Msg(what + " failed; will retry")
		}
		return fmt.Errorf("publishing %s %s: %w", m.Name, m.Type, err)
	}
	ev.Uint64("seq", seq).Msg(what)
	return nil
}
