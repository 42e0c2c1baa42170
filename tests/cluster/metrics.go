package cluster

import (
	"bufio"
	"bytes"
	"context"
	"fmt"
	"net/http"
	"strconv"
	"strings"
	"time"
)

// Metrics is one scrape of a node's GET /metrics (Prometheus text format):
// each series, written name{label="value",...} as the node wrote it, and
// its value.
type Metrics map[string]float64

// Metrics scrapes the node's /metrics, within 3 seconds (or ctx).
func (n *Node) Metrics(ctx context.Context) (Metrics, error) {
	ctx, cancel := context.WithTimeout(ctx, 3*time.Second)
	defer cancel()
	req, err := http.NewRequestWithContext(ctx, http.MethodGet, n.URL("/metrics"), nil)
	if err != nil {
		return nil, err
	}
	data, status, err := n.fetch(req)
	if err != nil {
		return nil, err
	}
	if status != http.StatusOK {
		return nil, fmt.Errorf("GET /metrics on %s: status %d", n.ID, status)
	}
	return ParseMetrics(data)
}

// ParseMetrics reads the Prometheus text format: comment lines are skipped,
// every other line is a series and its value (a timestamp after the value
// is ignored).
func ParseMetrics(data []byte) (Metrics, error) {
	m := Metrics{}
	sc := bufio.NewScanner(bytes.NewReader(data))
	sc.Buffer(make([]byte, 64<<10), 1<<20)
	for sc.Scan() {
		line := strings.TrimSpace(sc.Text())
		if line == "" || line[0] == '#' {
			continue
		}
		// The value follows the series, after the closing brace if there
		// are labels (label values may hold spaces).
		cut := strings.LastIndexByte(line, '}')
		if cut < 0 {
			cut = strings.IndexByte(line, ' ')
		} else {
			cut++
		}
		if cut <= 0 || cut >= len(line) {
			return nil, fmt.Errorf("metrics: bad line %q", line)
		}
		fields := strings.Fields(line[cut:])
		if len(fields) == 0 {
			return nil, fmt.Errorf("metrics: no value in %q", line)
		}
		v, err := strconv.ParseFloat(fields[0], 64)
		if err != nil {
			return nil, fmt.Errorf("metrics: value of %q: %w", line, err)
		}
		m[strings.TrimSpace(line[:cut])] = v
	}
	return m, sc.Err()
}

// Sum adds the values of every series of the metric name, whatever their
// labels; labels given as "key=value" keep only the series that carry
// every one of them.
func (m Metrics) Sum(name string, labels ...string) float64 {
	var sum float64
	for series, v := range m {
		if seriesName(series) != name {
			continue
		}
		ok := true
		for _, l := range labels {
			k, val, _ := strings.Cut(l, "=")
			if !strings.Contains(series, k+`="`+val+`"`) {
				ok = false
				break
			}
		}
		if ok {
			sum += v
		}
	}
	return sum
}

// Value returns the value of the series of name without labels and
// whether the node reported it.
func (m Metrics) Value(name string) (float64, bool) {
	v, ok := m[name]
	return v, ok
}

// Find returns the value of the first series of name that carries every
// "key=value" of labels (a gauge such as rzone_lease_remaining_seconds
// with role=zone), and whether the node reported one.
func (m Metrics) Find(name string, labels ...string) (float64, bool) {
	for series, v := range m {
		if seriesName(series) != name {
			continue
		}
		ok := true
		for _, l := range labels {
			k, val, _ := strings.Cut(l, "=")
			ok = ok && strings.Contains(series, k+`="`+val+`"`)
		}
		if ok {
			return v, true
		}
	}
	return 0, false
}

// ByLabel returns, for the metric name, each value of the label key and
// the sum of the series carrying it.
func (m Metrics) ByLabel(name, key string) map[string]float64 {
	out := map[string]float64{}
	for series, v := range m {
		if seriesName(series) != name {
			continue
		}
		i := strings.Index(series, key+`="`)
		if i < 0 {
			continue
		}
		rest := series[i+len(key)+2:]
		if j := strings.IndexByte(rest, '"'); j >= 0 {
			out[rest[:j]] += v
		}
	}
	return out
}

func seriesName(series string) string {
	if i := strings.IndexByte(series, '{'); i >= 0 {
		return series[:i]
	}
	return series
}
