package main

import (
	"regexp"
	"strings"
	"testing"
	"time"
)

// TestOpShowWatchPrintsProgress starts a failover of zone A against an
// in-process `rzone dev` without waiting for it, finds it in `rzone op
// list`, and follows it with `rzone op show ID --watch`: each step is
// printed as it goes, from a step under way to done, and the command ends
// when the operation is done.
func TestOpShowWatchPrintsProgress(t *testing.T) {
	if testing.Short() {
		t.Skip("runs rzone dev")
	}
	d := startDevInProcess(t)
	cli := func(args ...string) string {
		t.Helper()
		out, err := d.cli(t, 90*time.Second, args...)
		if err != nil {
			t.Fatalf("rzone %s: %v", args[0], err)
		}
		return out
	}

	started := cli("zone", "failover", "A", "--force", "--wait", "0s")
	m := regexp.MustCompile(`(?m)^([0-9a-f]{16}) failover A: failing_over 0%`).FindStringSubmatch(started)
	if m == nil {
		t.Fatalf("zone failover --wait 0s printed no operation line:\n%s", started)
	}
	id := m[1]
	if list := cli("op", "list"); !regexp.MustCompile(`(?m)^` + id + `\s+failover\s+A\s+`).MatchString(list) {
		t.Fatalf("rzone op list does not show operation %s:\n%s", id, list)
	}
	watched := cli("op", "show", id, "--watch")
	var steps []string
	for _, line := range strings.Split(watched, "\n") {
		if strings.HasPrefix(line, id+" failover A: ") {
			steps = append(steps, strings.TrimPrefix(line, id+" failover A: "))
		}
	}
	if len(steps) < 2 || strings.HasPrefix(steps[0], "done") || !strings.HasPrefix(steps[len(steps)-1], "done 100%") {
		t.Fatalf("rzone op show --watch printed steps %q, want a step under way first and done 100%% last:\n%s", steps, watched)
	}
	if !strings.Contains(watched, "operation "+id+": failover of A") || !strings.Contains(watched, "phase done, 100%") {
		t.Fatalf("rzone op show --watch did not end with the finished operation:\n%s", watched)
	}
	if out := cli("op", "show", id, "-o", "json"); !strings.Contains(out, `"done": true`) || !strings.Contains(out, `"kind": "failover"`) {
		t.Fatalf("rzone op show -o json:\n%s", out)
	}
	// Home again, following the recover operation to its end.
	if out := cli("zone", "recover", "A"); !strings.Contains(out, "phase normal") || !strings.Contains(out, "recover A: done 100%") {
		t.Fatalf("rzone zone recover:\n%s", out)
	}
}
