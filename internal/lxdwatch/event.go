package lxdwatch

import (
	"encoding/json"
	"net/url"
	"strings"

	"github.com/canonical/lxd/shared/api"

	"github.com/zonecast/zonecast/internal/instance"
)

// ref names one instance.
type ref struct {
	Project string
	Name    string
}

func (r ref) String() string { return r.Project + "/" + r.Name }

// trigger is what one lifecycle event asks for: resync these instances, and
// poll them quickly for a while if fast is set.
type trigger struct {
	Refs   []ref
	Fast   bool
	Action string
}

// ignored lists instance actions that cannot change records.
var ignored = []string{
	"instance-exec", "instance-console", "instance-file-", "instance-log-",
	"instance-metadata-retrieved", "instance-metadata-template-", "instance-backup-",
	"instance-snapshot-",
}

// fastActions are followed by addresses appearing without further events.
var fastActions = map[string]bool{
	api.EventLifecycleInstanceStarted:   true,
	api.EventLifecycleInstanceRestarted: true,
	api.EventLifecycleInstanceResumed:   true,
	api.EventLifecycleInstanceRestored:  true,
	api.EventLifecycleInstanceUpdated:   true,
	api.EventLifecycleInstanceReady:     true,
}

// parseEvent turns a lifecycle event into a trigger. It is pure.
//
//	{"action":"instance-renamed","source":"/1.0/instances/new?project=p","context":{"old_name":"old"}}
//	-> resync p/new and p/old
func parseEvent(e api.Event) (trigger, bool) {
	if e.Type != api.EventTypeLifecycle {
		return trigger{}, false
	}
	var lc api.EventLifecycle
	if err := json.Unmarshal(e.Metadata, &lc); err != nil {
		return trigger{}, false
	}
	if !strings.HasPrefix(lc.Action, "instance-") {
		return trigger{}, false
	}
	for _, p := range ignored {
		if lc.Action == p || strings.HasSuffix(p, "-") && strings.HasPrefix(lc.Action, p) {
			return trigger{}, false
		}
	}
	name, project := sourceInstance(lc.Source)
	if name == "" {
		name = lc.Name
	}
	if name == "" {
		return trigger{}, false
	}
	for _, p := range []string{project, lc.Project, e.Project} {
		if project == "" {
			project = p
		}
	}
	if project == "" {
		project = instance.DefaultProject
	}
	t := trigger{Refs: []ref{{project, name}}, Fast: fastActions[lc.Action], Action: lc.Action}
	if old, ok := lc.Context["old_name"].(string); ok && old != "" && old != name {
		t.Refs = append(t.Refs, ref{project, old})
	}
	return t, true
}

// sourceInstance parses "/1.0/instances/NAME[/...][?project=P]".
func sourceInstance(src string) (name, project string) {
	u, err := url.Parse(src)
	if err != nil {
		return "", ""
	}
	rest, ok := strings.CutPrefix(u.Path, "/1.0/instances/")
	if !ok {
		rest, ok = strings.CutPrefix(u.Path, "/1.0/containers/")
		if !ok {
			rest, ok = strings.CutPrefix(u.Path, "/1.0/virtual-machines/")
		}
	}
	if !ok {
		return "", ""
	}
	name, _, _ = strings.Cut(rest, "/")
	return name, u.Query().Get("project")
}
