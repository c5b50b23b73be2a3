package analysis

import (
	"context"
	"fmt"
	"sort"
	"strings"

	rolloutsapi "github.com/caravan-dev/caravan/api/rollouts/v1alpha1"
)

// Provider names: the keys of a metric's provider object.
const (
	ProviderWeb        = "web"
	ProviderPrometheus = "prometheus"
)

// Provider takes measurements for one kind of metric provider.
type Provider interface {
	// Measure takes one measurement of metric, whose placeholders are
	// already resolved (secrets included). It returns the measured value or
	// an error, which makes the measurement's phase Error with the error as
	// its message; the error must not repeat header values. Measure returns
	// when ctx is done.
	Measure(ctx context.Context, metric *rolloutsapi.Metric) (Result, error)
}

// MetadataProvider is a Provider that describes a metric in its result's
// metadata (the prometheus provider records the resolved query).
type MetadataProvider interface {
	Provider
	// MetricMetadata returns the metadata of metric's result.
	MetricMetadata(metric *rolloutsapi.Metric) map[string]string
}

// Result is one measured value.
type Result struct {
	// Value is what successCondition and failureCondition see as result: a
	// number, string, bool, nil, []any or map[string]any from JSON, or the
	// []float64 of a Prometheus vector.
	Value any
	// Text is the value as recorded in the measurement.
	Text string
	// Metadata is recorded in the measurement.
	Metadata map[string]string
}

// providerName returns the name of the provider metric uses, or "" when it
// sets none.
func providerName(p *rolloutsapi.MetricProvider) string {
	raw := []struct {
		name string
		set  *rolloutsapi.RawJSON
	}{
		{"job", p.Job}, {"kayenta", p.Kayenta}, {"datadog", p.Datadog}, {"newRelic", p.NewRelic},
		{"wavefront", p.Wavefront}, {"cloudWatch", p.CloudWatch}, {"graphite", p.Graphite},
		{"influxdb", p.Influxdb}, {"skywalking", p.SkyWalking}, {"plugin", p.Plugin},
	}
	switch {
	case p.Web != nil:
		return ProviderWeb
	case p.Prometheus != nil:
		return ProviderPrometheus
	}
	for _, r := range raw {
		if r.set != nil && len(r.set.Raw) > 0 {
			return r.name
		}
	}
	return ""
}

// unsupportedMessage is the message of a metric whose provider Caravan does
// not run.
func unsupportedMessage(name string, providers map[string]Provider) string {
	names := make([]string, 0, len(providers))
	for n := range providers {
		names = append(names, n)
	}
	// The built-in providers first, in the order the documentation names them.
	rank := func(n string) int {
		switch n {
		case ProviderWeb:
			return 0
		case ProviderPrometheus:
			return 1
		}
		return 2
	}
	sort.Slice(names, func(i, j int) bool {
		if ri, rj := rank(names[i]), rank(names[j]); ri != rj {
			return ri < rj
		}
		return names[i] < names[j]
	})
	return fmt.Sprintf("provider %s is not supported by Caravan: supported providers are %s", name, joinAnd(names))
}

// joinAnd writes "a", "a and b", "a, b and c".
func joinAnd(items []string) string {
	switch len(items) {
	case 0:
		return "none"
	case 1:
		return items[0]
	}
	return strings.Join(items[:len(items)-1], ", ") + " and " + items[len(items)-1]
}
