// Package alerts tests what zonecast ships for monitoring: the Prometheus
// alerting rules (packaging/prometheus) and the Grafana dashboard
// (packaging/grafana). Its tests check that every expression refers only
// to metrics and labels the daemons export, run promtool's checks and unit
// tests, and load the rules into a real Prometheus that scrapes a real
// syncer beside a real PowerDNS. It has no code of its own.
package alerts
