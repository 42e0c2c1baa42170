package main

import (
	"os"
	"regexp"
	"strings"
	"testing"
)

// TestReadmeExamplesSayWhatTheCLIDoes: the README's `rzone shard move N Z`
// examples call N a shard (the CLI takes a shard number, not a user), and
// no line states one fixed cycle as the bill a payment goes into (the
// cycle is the month of the payment).
func TestReadmeExamplesSayWhatTheCLIDoes(t *testing.T) {
	b, err := os.ReadFile("../../README.md")
	if err != nil {
		t.Fatal(err)
	}
	move := regexp.MustCompile(`rzone shard move (\d+) [A-Z]+\s+#(.*)`)
	fixedBill := regexp.MustCompile(`(?i)into (the )?bill \d{6}\b`)
	moves := 0
	for i, line := range strings.Split(string(b), "\n") {
		if m := move.FindStringSubmatch(line); m != nil {
			moves++
			if !strings.Contains(m[2], "shard "+m[1]) || strings.Contains(m[2], "user "+m[1]+"'s shard") {
				t.Errorf("README.md:%d: `rzone shard move %s` takes shard %s, the comment says %q", i+1, m[1], m[1], strings.TrimSpace(m[2]))
			}
		}
		if fixedBill.MatchString(line) {
			t.Errorf("README.md:%d names a fixed cycle as the bill of a payment: %s", i+1, strings.TrimSpace(line))
		}
	}
	if moves == 0 {
		t.Error("README.md has no `rzone shard move N ZONE # ...` example")
	}
	// The CLI's own usage agrees.
	root := newRootCmd()
	if cmd, _, err := root.Find([]string{"shard", "move"}); err != nil || !strings.HasPrefix(cmd.Use, "move SHARD ") {
		t.Errorf("rzone shard move: %v %q", err, cmd.Use)
	}
}
