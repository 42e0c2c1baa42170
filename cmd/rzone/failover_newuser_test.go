package main

import (
	"encoding/json"
	"os/exec"
	"strings"
	"testing"
)

// TestNewUserFailoverPath walks the README's failover path as a new user
// would, with the CLI against a real `rzone dev`: create an account and pay
// in the zone of user 0, fail that zone over (refused without --force: it
// holds its lease), pay again for user 0
// (accepted by the failover store), see the phase and counts in `rzone
// status`, recover the zone, and find both payments in the home zone.
func TestNewUserFailoverPath(t *testing.T) {
	if testing.Short() {
		t.Skip("builds and runs the binary")
	}
	bin, api := startDev(t)
	run := func(args ...string) string {
		t.Helper()
		cmd := exec.Command(bin, append(args, "--addr", api)...)
		out, err := cmd.CombinedOutput()
		t.Logf("$ rzone %s\n%s", strings.Join(args, " "), out)
		if err != nil {
			t.Fatalf("rzone %s: %v", strings.Join(args, " "), err)
		}
		return string(out)
	}

	run("account", "put", "0", "5000")
	run("pay", "0", "12.50", "--key", "before-failover")
	routes := run("routes", "-o", "json")
	zone := zoneOfUser0(t, routes)

	// The zone is alive and holds its lease: without --force the failover
	// is refused, and the error says how to insist.
	refused, err := exec.Command(bin, "zone", "failover", zone, "--addr", api).CombinedOutput()
	if err == nil || !strings.Contains(string(refused), "lease_valid") || !strings.Contains(string(refused), "--force") {
		t.Fatalf("zone failover of a zone holding its lease, without --force: %v\n%s", err, refused)
	}
	out := run("zone", "failover", zone, "--force")
	if !strings.Contains(out, "phase failover") {
		t.Fatalf("zone failover did not reach the failover phase:\n%s", out)
	}
	run("pay", "0", "7.25", "--key", "during-failover")
	status := run("status")
	for _, want := range []string{"zone " + zone + ": phase failover", "payments taken in failover: 1"} {
		if !strings.Contains(status, want) {
			t.Fatalf("rzone status does not show %q:\n%s", want, status)
		}
	}
	out = run("zone", "recover", zone)
	if !strings.Contains(out, "phase normal") || !strings.Contains(out, "reconciled") {
		t.Fatalf("zone recover did not bring the zone home:\n%s", out)
	}
	list := run("payment", "list", "0")
	for _, key := range []string{"before-failover", "during-failover"} {
		if !strings.Contains(list, key) {
			t.Fatalf("payment %s missing at home after recovery:\n%s", key, list)
		}
	}
	acct := run("account", "get", "0", "-o", "json")
	if !strings.Contains(acct, `"accepted": 1975`) {
		t.Fatalf("account 0 after recovery does not hold both payments (19.75):\n%s", acct)
	}
}

// zoneOfUser0 reads user 0's zone (shard 0's) from `rzone routes -o json`.
func zoneOfUser0(t *testing.T, routesJSON string) string {
	t.Helper()
	var rt struct {
		Shards []struct {
			Shard int    `json:"shard"`
			Zone  string `json:"zone"`
		} `json:"shards"`
	}
	if err := json.Unmarshal([]byte(routesJSON), &rt); err != nil || len(rt.Shards) == 0 || rt.Shards[0].Shard != 0 {
		t.Fatalf("routes: %v\n%s", err, routesJSON)
	}
	return rt.Shards[0].Zone
}
