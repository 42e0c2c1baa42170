package gossip

import (
	"bytes"
	"log/slog"
	"strings"
	"testing"
)

func TestMemberlistLogLevels(t *testing.T) {
	var buf bytes.Buffer
	l := memberlistLogger(slog.New(slog.NewTextHandler(&buf, &slog.HandlerOptions{Level: slog.LevelInfo})))
	l.Printf("[DEBUG] memberlist: Stream connection from=127.0.0.1:1234")
	l.Printf("[INFO] memberlist: Suspect b1 has failed, no acks received")
	l.Printf("[WARN] memberlist: Refuting a suspect message (from: c1)")
	l.Printf("[ERR] memberlist: Failed fallback TCP ping")
	l.Printf("no prefix")
	l.Printf("[ERR] memberlist: Failed to send indirect UDP ping: write udp 127.0.0.1:1->127.0.0.1:2: use of closed network connection")

	got := buf.String()
	for _, want := range []string{
		`level=INFO msg="memberlist: Suspect b1 has failed, no acks received" lib=memberlist`,
		`level=WARN msg="memberlist: Refuting a suspect message (from: c1)"`,
		`level=ERROR msg="memberlist: Failed fallback TCP ping"`,
		`level=INFO msg="no prefix"`,
	} {
		if !strings.Contains(got, want) {
			t.Errorf("log lacks %s\n%s", want, got)
		}
	}
	if strings.Contains(got, "indirect UDP ping") {
		t.Errorf("the node's own closed socket while leaving logged above debug:\n%s", got)
	}
	if strings.Contains(got, "Stream connection") {
		t.Errorf("a [DEBUG] line passed an info-level handler:\n%s", got)
	}
}
