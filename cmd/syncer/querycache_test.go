package main

import (
	"slices"
	"testing"
)

func TestQueryCacheOn(t *testing.T) {
	t.Parallel()
	for name, tc := range map[string]struct {
		settings map[string]string
		want     []string
	}{
		"defaults": {map[string]string{"query-cache-ttl": "20", "negquery-cache-ttl": "60", "cache-ttl": "20"},
			[]string{"query-cache-ttl=20", "negquery-cache-ttl=60"}},
		"off":       {map[string]string{"query-cache-ttl": "0", "negquery-cache-ttl": "0", "cache-ttl": "20"}, nil},
		"half":      {map[string]string{"query-cache-ttl": "0", "negquery-cache-ttl": "60"}, []string{"negquery-cache-ttl=60"}},
		"not shown": {map[string]string{}, nil},
	} {
		if got := queryCacheOn(tc.settings); !slices.Equal(got, tc.want) {
			t.Errorf("%s: %v, want %v", name, got, tc.want)
		}
	}
}

func TestAnyCacheOn(t *testing.T) {
	t.Parallel()
	for name, tc := range map[string]struct {
		settings map[string]string
		want     bool
	}{
		"defaults":            {map[string]string{"query-cache-ttl": "20", "negquery-cache-ttl": "60", "cache-ttl": "20"}, true},
		"all off":             {map[string]string{"query-cache-ttl": "0", "negquery-cache-ttl": "0", "cache-ttl": "0"}, false},
		"query cache off":     {map[string]string{"query-cache-ttl": "0", "negquery-cache-ttl": "0", "cache-ttl": "20"}, true},
		"packet cache off":    {map[string]string{"query-cache-ttl": "20", "negquery-cache-ttl": "60", "cache-ttl": "0"}, true},
		"negative cache on":   {map[string]string{"query-cache-ttl": "0", "negquery-cache-ttl": "60", "cache-ttl": "0"}, true},
		"not shown: defaults": {map[string]string{"query-cache-ttl": "0", "negquery-cache-ttl": "0"}, true},
	} {
		if got := anyCacheOn(tc.settings); got != tc.want {
			t.Errorf("%s: %v, want %v", name, got, tc.want)
		}
	}
}
