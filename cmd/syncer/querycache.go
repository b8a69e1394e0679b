package main

import (
	"context"
	"time"

	"github.com/rs/zerolog"

	"github.com/zonecast/zonecast/internal/pdnsapi"
	"github.com/zonecast/zonecast/internal/retry"
)

// settingsReader reads PowerDNS's configuration.
type settingsReader interface {
	Settings(ctx context.Context) (map[string]string, error)
}

// queryCacheSettings are PowerDNS's query cache TTLs, which signed zones
// want at 0 (docs/dnssec.md).
var queryCacheSettings = []string{"query-cache-ttl", "negquery-cache-ttl"}

// cacheSettings are the TTLs of all of PowerDNS's record caches: the
// query cache's and the packet cache's.
var cacheSettings = append([]string{"cache-ttl"}, queryCacheSettings...)

// checkCaches reads PowerDNS's configuration once it answers. It tells
// cachesOn whether any of PowerDNS's caches is on (the late flush after
// writes is skipped when none is), and, with signed zones, warns when the
// query cache is on: it can pair a presigned answer's records with RRSIGs
// from before a write, which validating resolvers refuse. A PowerDNS
// restarted with other settings is seen at the syncer's next start.
func checkCaches(ctx context.Context, pdns settingsReader, signed bool, cachesOn func(bool), log zerolog.Logger) {
	var settings map[string]string
	err := retry.Loop{Backoff: retry.Backoff{Min: time.Second, Max: time.Minute, Jitter: 0.1}}.Do(ctx, func(ctx context.Context) (err error) {
		settings, err = pdns.Settings(ctx)
		return err
	})
	if err != nil {
		return // ctx ended
	}
	on := anyCacheOn(settings)
	cachesOn(on)
	if !on {
		log.Info().Msg("powerdns's caches are off: writes are not followed by a late cache flush")
	}
	if on := queryCacheOn(settings); signed && len(on) > 0 {
		log.Warn().Strs("settings", on).Msg("powerdns's query cache is on: set query-cache-ttl=0 and negquery-cache-ttl=0 " +
			"for signed zones, or resolvers can get answers that do not validate while changes land (docs/dnssec.md)")
	}
}

// queryCacheOn returns the query cache settings that are not 0.
func queryCacheOn(settings map[string]string) []string {
	var on []string
	for _, name := range queryCacheSettings {
		if v, ok := settings[name]; ok && v != "0" {
			on = append(on, name+"="+v)
		}
	}
	return on
}

// anyCacheOn reports whether any of PowerDNS's caches is on; a setting it
// does not show counts as on (its default).
func anyCacheOn(settings map[string]string) bool {
	for _, name := range cacheSettings {
		if v, ok := settings[name]; !ok || v != "0" {
			return true
		}
	}
	return false
}

var _ settingsReader = (*pdnsapi.Client)(nil)
