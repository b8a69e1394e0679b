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

// checkQueryCache warns, once PowerDNS answers, when its query cache is
// on: it can pair a presigned answer's records with RRSIGs from before a
// write, which validating resolvers refuse.
func checkQueryCache(ctx context.Context, pdns settingsReader, log zerolog.Logger) {
	var settings map[string]string
	err := retry.Loop{Backoff: retry.Backoff{Min: time.Second, Max: time.Minute, Jitter: 0.1}}.Do(ctx, func(ctx context.Context) (err error) {
		settings, err = pdns.Settings(ctx)
		return err
	})
	if err != nil {
		return // ctx ended
	}
	if on := queryCacheOn(settings); len(on) > 0 {
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

var _ settingsReader = (*pdnsapi.Client)(nil)
