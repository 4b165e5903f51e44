package httpapi

import (
	"database/sql"
	"errors"
	"runtime"

	"github.com/prometheus/client_golang/prometheus"
	"github.com/prometheus/client_golang/prometheus/collectors"
)

type httpMetrics struct {
	requests *prometheus.CounterVec
	duration *prometheus.HistogramVec
}

// registerMetrics registers the HTTP, build, DB pool, Go and process
// collectors. A collector already in reg is reused, so the app may register
// the Go collector itself, or build two APIs on one registry in tests.
func registerMetrics(reg *prometheus.Registry, build BuildInfo, dbStats func() map[string]sql.DBStats) (*httpMetrics, error) {
	requests, err := register(reg, prometheus.NewCounterVec(prometheus.CounterOpts{
		Name: "mlcycle_http_requests_total",
		Help: "HTTP requests by route pattern, method and status code.",
	}, []string{"route", "method", "code"}))
	if err != nil {
		return nil, err
	}
	duration, err := register(reg, prometheus.NewHistogramVec(prometheus.HistogramOpts{
		Name:    "mlcycle_http_request_duration_seconds",
		Help:    "HTTP request latency by route pattern and method.",
		Buckets: prometheus.DefBuckets,
	}, []string{"route", "method"}))
	if err != nil {
		return nil, err
	}
	goVersion := build.GoVersion
	if goVersion == "" {
		goVersion = runtime.Version()
	}
	others := []prometheus.Collector{
		prometheus.NewGaugeFunc(prometheus.GaugeOpts{
			Name: "mlcycle_build_info",
			Help: "Always 1; the labels describe the running binary.",
			ConstLabels: prometheus.Labels{
				"version": build.Version, "commit": build.Commit, "go_version": goVersion,
			},
		}, func() float64 { return 1 }),
		collectors.NewGoCollector(),
		collectors.NewProcessCollector(collectors.ProcessCollectorOpts{}),
	}
	if dbStats != nil {
		others = append(others, newDBCollector(dbStats))
	}
	for _, c := range others {
		if _, err := register(reg, c); err != nil {
			return nil, err
		}
	}
	return &httpMetrics{requests: requests, duration: duration}, nil
}

func register[C prometheus.Collector](reg prometheus.Registerer, c C) (C, error) {
	err := reg.Register(c)
	if are, ok := errors.AsType[prometheus.AlreadyRegisteredError](err); ok {
		if existing, ok := are.ExistingCollector.(C); ok {
			return existing, nil
		}
	}
	return c, err
}

// dbCollector reads connection pool statistics at scrape time.
type dbCollector struct {
	stats                                  func() map[string]sql.DBStats
	open, inUse, idle, maxOpen             *prometheus.Desc
	waitCount, waitDuration, closedMaxIdle *prometheus.Desc
}

func newDBCollector(stats func() map[string]sql.DBStats) *dbCollector {
	desc := func(name, help string) *prometheus.Desc {
		return prometheus.NewDesc("mlcycle_db_"+name, help, []string{"pool"}, nil)
	}
	return &dbCollector{
		stats:         stats,
		open:          desc("open_connections", "Open connections, in use and idle."),
		inUse:         desc("in_use_connections", "Connections in use."),
		idle:          desc("idle_connections", "Idle connections."),
		maxOpen:       desc("max_open_connections", "Maximum open connections; 0 is unlimited."),
		waitCount:     desc("wait_count_total", "Times a caller waited for a free connection."),
		waitDuration:  desc("wait_duration_seconds_total", "Time spent waiting for a free connection."),
		closedMaxIdle: desc("closed_max_idle_total", "Connections closed because the idle pool was full."),
	}
}

func (c *dbCollector) Describe(ch chan<- *prometheus.Desc) {
	for _, d := range []*prometheus.Desc{c.open, c.inUse, c.idle, c.maxOpen, c.waitCount, c.waitDuration, c.closedMaxIdle} {
		ch <- d
	}
}

func (c *dbCollector) Collect(ch chan<- prometheus.Metric) {
	for pool, s := range c.stats() {
		gauge := func(d *prometheus.Desc, v float64) {
			ch <- prometheus.MustNewConstMetric(d, prometheus.GaugeValue, v, pool)
		}
		counter := func(d *prometheus.Desc, v float64) {
			ch <- prometheus.MustNewConstMetric(d, prometheus.CounterValue, v, pool)
		}
		gauge(c.open, float64(s.OpenConnections))
		gauge(c.inUse, float64(s.InUse))
		gauge(c.idle, float64(s.Idle))
		gauge(c.maxOpen, float64(s.MaxOpenConnections))
		counter(c.waitCount, float64(s.WaitCount))
		counter(c.waitDuration, s.WaitDuration.Seconds())
		counter(c.closedMaxIdle, float64(s.MaxIdleClosed))
	}
}
