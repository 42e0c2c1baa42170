package main

import (
	"encoding/json"
	"os"
	"strings"
	"testing"
	"time"

	"github.com/rzonedb/rzone/client"
)

// TestReadmeNodeCommandsExist: every `rzone node ...` and `rzone status`
// line of the README's Node lifecycle and Rolling restart sections is a
// command of the CLI with the arguments it takes, and each of the `rzone
// node` commands is shown there.
func TestReadmeNodeCommandsExist(t *testing.T) {
	data, err := os.ReadFile("../../README.md")
	if err != nil {
		t.Fatal(err)
	}
	shown := map[string]bool{}
	for _, title := range []string{"### Node lifecycle", "### Rolling restart"} {
		_, rest, ok := strings.Cut(string(data), "\n"+title+"\n")
		if !ok {
			t.Fatalf("README.md has no %q section", title)
		}
		section, _, _ := strings.Cut(rest, "\n#")
		lines := 0
		for _, line := range strings.Split(section, "\n") {
			line, _, _ = strings.Cut(strings.TrimSpace(line), "#")
			words := strings.Fields(line)
			if len(words) < 2 || words[0] != "rzone" || (words[1] != "node" && words[1] != "status") {
				continue
			}
			lines++
			cmd, args, err := newRootCmd().Find(words[1:])
			if err != nil || cmd.Name() == "rzone" {
				t.Errorf("README %s: %q is no command: %v", title, line, err)
				continue
			}
			if err := cmd.ValidateArgs(args); err != nil {
				t.Errorf("README %s: %q: %v", title, line, err)
			}
			shown[cmd.CommandPath()] = true
		}
		if lines == 0 {
			t.Errorf("README %s shows no rzone node command", title)
		}
	}
	for _, c := range []string{"rzone node drain", "rzone node undrain", "rzone node remove"} {
		if !shown[c] {
			t.Errorf("README's Node lifecycle does not show %s", c)
		}
	}
}

// TestNodeDrainAndUndrain drains and undrains a node of an in-process
// `rzone dev` (one node per zone): the reply lists each group the node
// led, and its own zone stays with it, having no other voter.
func TestNodeDrainAndUndrain(t *testing.T) {
	if testing.Short() {
		t.Skip("runs rzone dev")
	}
	d := startDevInProcess(t)
	cli := func(args ...string) (string, error) {
		t.Helper()
		return d.cli(t, 60*time.Second, args...)
	}
	out, err := cli("node", "drain", "a1", "-o", "json")
	if err != nil {
		t.Fatal(err)
	}
	var dr client.NodeDrain
	if err := json.Unmarshal([]byte(out), &dr); err != nil {
		t.Fatalf("drain -o json: %v", err)
	}
	zoneKept := false
	for _, m := range dr.Moved {
		if m.Group == "zone/A" && m.To == "" && strings.Contains(m.Error, "no other live voter") {
			zoneKept = true
		}
		if m.Group == "meta" && (m.To == "" || m.To == "a1") {
			t.Fatalf("the meta leadership did not move: %+v", m)
		}
	}
	if dr.Node != "a1" || !dr.Drained || !zoneKept {
		t.Fatalf("drain: %+v", dr)
	}
	if out, err := cli("node", "undrain", "a1"); err != nil || !strings.HasPrefix(out, "node a1 undrained") {
		t.Fatalf("undrain: %v\n%s", err, out)
	}
	if _, err := cli("node", "remove", "nobody"); err == nil {
		t.Fatal("removed a node that does not exist")
	}
}
