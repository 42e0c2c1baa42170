package gossip

import (
	"errors"
	"strings"
	"testing"
	"time"
)

func TestValidate(t *testing.T) {
	valid := func() Config {
		c := DefaultConfig()
		c.Meta = testMeta("a1")
		return c
	}
	tests := []struct {
		name string
		edit func(*Config)
		want []string // substrings of the error; none means valid
		is   error
	}{
		{name: "default", edit: func(*Config) {}},
		{name: "fast", edit: func(c *Config) { m := c.Meta; *c = Fast(); c.Meta = m }},
		{name: "advertise and seeds", edit: func(c *Config) {
			c.AdvertiseAddr = "10.0.0.5:7946"
			c.Seeds = []string{"10.0.0.4:7946", "node-b.rzone:7946", "[::1]:7946"}
			c.Key = make([]byte, 24)
		}},
		{name: "bind host name", edit: func(c *Config) { c.BindAddr = "localhost:7946" },
			want: []string{"BindAddr", "not an IP address"}, is: ErrInvalidConfig},
		{name: "bind without port", edit: func(c *Config) { c.BindAddr = "127.0.0.1" },
			want: []string{"BindAddr"}, is: ErrInvalidConfig},
		{name: "bind port out of range", edit: func(c *Config) { c.BindAddr = "127.0.0.1:70000" },
			want: []string{"BindAddr"}, is: ErrInvalidConfig},
		{name: "advertise port 0", edit: func(c *Config) { c.AdvertiseAddr = "10.0.0.5:0" },
			want: []string{"AdvertiseAddr", "port 0"}, is: ErrInvalidConfig},
		{name: "advertise unspecified", edit: func(c *Config) { c.AdvertiseAddr = "0.0.0.0:7946" },
			want: []string{"AdvertiseAddr", "unspecified"}, is: ErrInvalidConfig},
		{name: "seed without port", edit: func(c *Config) { c.Seeds = []string{"10.0.0.4"} },
			want: []string{"Seeds[0]"}, is: ErrInvalidConfig},
		{name: "seed without host", edit: func(c *Config) { c.Seeds = []string{"10.0.0.4:7946", ":7946"} },
			want: []string{"Seeds[1]"}, is: ErrInvalidConfig},
		{name: "key of 20 bytes", edit: func(c *Config) { c.Key = make([]byte, 20) },
			want: []string{"Key is 20 bytes"}, is: ErrInvalidConfig},
		{name: "no node id", edit: func(c *Config) { c.Meta.NodeID = "" },
			want: []string{"NodeID is empty"}, is: ErrInvalidMeta},
		{name: "negative capacity", edit: func(c *Config) { c.Meta.Capacity = -1 },
			want: []string{"Capacity -1"}, is: ErrInvalidMeta},
		{name: "meta too large", edit: func(c *Config) { c.Meta.Roles = []string{strings.Repeat("r", 600)} },
			want: []string{"limit is 512"}, is: ErrMetaTooLarge},
		{name: "probe timeout not below interval", edit: func(c *Config) { c.ProbeTimeout = c.ProbeInterval },
			want: []string{"ProbeTimeout 1s must be below ProbeInterval 1s"}, is: ErrInvalidConfig},
		{name: "zero durations", edit: func(c *Config) {
			c.ProbeInterval, c.GossipInterval, c.TCPTimeout, c.ForgetAfter = 0, 0, 0, -time.Second
		}, want: []string{"ProbeInterval is 0s", "GossipInterval is 0s", "TCPTimeout is 0s", "ForgetAfter is -1s"}, is: ErrInvalidConfig},
		{name: "negative push/pull", edit: func(c *Config) { c.PushPullInterval = -time.Second },
			want: []string{"PushPullInterval"}, is: ErrInvalidConfig},
		{name: "push/pull off", edit: func(c *Config) { c.PushPullInterval = 0 }},
		{name: "bad counts", edit: func(c *Config) {
			c.SuspicionMult, c.SuspicionMaxTimeoutMult, c.GossipNodes, c.IndirectChecks, c.EventBuffer = 0, 0, 0, -1, 0
		}, want: []string{"SuspicionMult is 0", "SuspicionMaxTimeoutMult is 0", "GossipNodes is 0", "IndirectChecks is -1", "EventBuffer is 0"}, is: ErrInvalidConfig},
		{name: "zero config", edit: func(c *Config) { *c = Config{} },
			want: []string{"BindAddr", "NodeID is empty", "ProbeInterval is 0s", "EventBuffer is 0"}, is: ErrInvalidConfig},
	}
	for _, tc := range tests {
		t.Run(tc.name, func(t *testing.T) {
			c := valid()
			tc.edit(&c)
			err := c.Validate()
			if len(tc.want) == 0 {
				if err != nil {
					t.Fatalf("Validate: %v", err)
				}
				return
			}
			if err == nil {
				t.Fatalf("Validate accepted %+v", c)
			}
			if !errors.Is(err, tc.is) {
				t.Errorf("error %v is not %v", err, tc.is)
			}
			for _, w := range tc.want {
				if !strings.Contains(err.Error(), w) {
					t.Errorf("error %q does not mention %q", err, w)
				}
			}
		})
	}
}

func TestStartRefusesInvalidConfig(t *testing.T) {
	cfg := Fast()
	cfg.Meta = testMeta("a1")
	cfg.Key = []byte("short")
	if _, err := Start(cfg); !errors.Is(err, ErrInvalidConfig) {
		t.Fatalf("Start: err = %v, want ErrInvalidConfig", err)
	}
}

// TestDetectionTime pins the bounds the package documentation quotes.
func TestDetectionTime(t *testing.T) {
	def, fast := DefaultConfig(), Fast()
	tests := []struct {
		name string
		cfg  *Config
		n    int
		want time.Duration
	}{
		// (2(n-1)-1)*PI + PI + SuspicionMaxTimeoutMult*SuspicionMult*max(1,log10 n)*PI + PI
		{"default, 3 members", &def, 3, 3*time.Second + time.Second + 24*time.Second + time.Second},
		{"default, 9 members", &def, 9, 15*time.Second + time.Second + 24*time.Second + time.Second},
		{"default, 100 members", &def, 100, 197*time.Second + time.Second + 48*time.Second + time.Second},
		{"fast, alone", &fast, 1, 200*time.Millisecond + 200*time.Millisecond + 2400*time.Millisecond + 200*time.Millisecond},
		{"fast, 4 members", &fast, 4, 1000*time.Millisecond + 200*time.Millisecond + 2400*time.Millisecond + 200*time.Millisecond},
		{"fast, 9 members", &fast, 9, 3000*time.Millisecond + 200*time.Millisecond + 2400*time.Millisecond + 200*time.Millisecond},
	}
	for _, tc := range tests {
		t.Run(tc.name, func(t *testing.T) {
			if got := detectionTime(tc.cfg, tc.n, tc.n); got != tc.want {
				t.Errorf("detectionTime = %s, want %s", got, tc.want)
			}
		})
	}
}
