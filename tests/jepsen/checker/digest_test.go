package checker

import "testing"

func TestDigests(t *testing.T) {
	rep := func(sample, node, group string, applied uint64, digest string) ReplicaSample {
		return ReplicaSample{Sample: sample, Node: node, Group: group, Applied: applied, Digest: digest}
	}
	tests := []struct {
		name    string
		samples []ReplicaSample
		want    Verdict
	}{
		{"agree", []ReplicaSample{
			rep("final", "a1", "zone/A", 10, "x"), rep("final", "a2", "zone/A", 10, "x"), rep("final", "b1", "zone/A", 10, "x"),
		}, Valid},
		{"a failover store's replicas diverge at one index", []ReplicaSample{
			rep("final", "a1", "zone/A", 10, "x"), rep("final", "a2", "zone/A", 10, "x"),
			rep("serve #2 (1)", "b1", "zone/A-f2", 40, "s"), rep("serve #2 (1)", "b2", "zone/A-f2", 40, "t"),
		}, Invalid},
		{"different indexes in one serve sample are not compared; another sample of the step met them", []ReplicaSample{
			rep("final", "a1", "zone/A", 10, "x"), rep("final", "a2", "zone/A", 10, "x"),
			rep("serve #2 (1)", "b1", "zone/A-f2", 40, "s"), rep("serve #2 (1)", "b2", "zone/A-f2", 41, "t"),
			rep("serve #2 (2)", "b1", "zone/A-f2", 42, "u"), rep("serve #2 (2)", "b2", "zone/A-f2", 42, "u"),
		}, Valid},
		{"an unreadable node", []ReplicaSample{
			rep("final", "a1", "zone/A", 10, "x"), rep("final", "a2", "zone/A", 10, "x"),
			{Sample: "final", Node: "a3", Err: "connection refused"},
		}, Unknown},
		{"a group that keeps writing: each replica met another in some final sample", []ReplicaSample{
			rep("final (1)", "a1", "meta", 10, "x"), rep("final (1)", "a2", "meta", 10, "x"), rep("final (1)", "a3", "meta", 11, "y"),
			rep("final (2)", "a1", "meta", 12, "z"), rep("final (2)", "a2", "meta", 13, "w"), rep("final (2)", "a3", "meta", 12, "z"),
		}, Valid},
		{"a group that keeps writing: one replica never met another", []ReplicaSample{
			rep("final (1)", "a1", "meta", 10, "x"), rep("final (1)", "a2", "meta", 10, "x"), rep("final (1)", "a3", "meta", 11, "y"),
			rep("final (2)", "a1", "meta", 12, "z"), rep("final (2)", "a2", "meta", 12, "z"), rep("final (2)", "a3", "meta", 13, "w"),
		}, Unknown},
		{"a node down during a serve step", []ReplicaSample{
			rep("final", "a1", "zone/A", 10, "x"), rep("final", "a2", "zone/A", 10, "x"),
			{Sample: "serve #1 (1)", Node: "a3", Err: "connection refused"},
			rep("serve #1 (1)", "b1", "zone/A-f2", 40, "s"), rep("serve #1 (1)", "b2", "zone/A-f2", 40, "s"),
		}, Valid},
		{"a store's replica without a digest while two others met: never compared", []ReplicaSample{
			rep("final", "a1", "zone/A", 10, "x"), rep("final", "a2", "zone/A", 10, "x"),
			{Sample: "serve #1 (1)", Node: "b3", Group: "zone/A-f2", Err: "no state digest for zone/A-f2"},
			rep("serve #1 (1)", "b1", "zone/A-f2", 40, "s"), rep("serve #1 (1)", "b2", "zone/A-f2", 40, "s"),
		}, Unknown},
		{"a store's replica without a digest, met in a later sample of the step", []ReplicaSample{
			rep("final", "a1", "zone/A", 10, "x"), rep("final", "a2", "zone/A", 10, "x"),
			{Sample: "serve #1 (1)", Node: "b3", Group: "zone/A-f2", Err: "no state digest for zone/A-f2"},
			rep("serve #1 (1)", "b1", "zone/A-f2", 40, "s"), rep("serve #1 (1)", "b2", "zone/A-f2", 40, "s"),
			rep("serve #1 (2)", "b1", "zone/A-f2", 41, "u"), rep("serve #1 (2)", "b3", "zone/A-f2", 41, "u"),
		}, Valid},
		{"a store's replica without a digest, met with another digest: divergent", []ReplicaSample{
			rep("final", "a1", "zone/A", 10, "x"), rep("final", "a2", "zone/A", 10, "x"),
			{Sample: "serve #1 (1)", Node: "b3", Group: "zone/A-f2", Err: "no state digest for zone/A-f2"},
			rep("serve #1 (1)", "b1", "zone/A-f2", 40, "s"), rep("serve #1 (1)", "b2", "zone/A-f2", 40, "s"),
			rep("serve #1 (2)", "b1", "zone/A-f2", 41, "u"), rep("serve #1 (2)", "b3", "zone/A-f2", 41, "v"),
		}, Invalid},
		{"no store replica ever digested", []ReplicaSample{
			rep("final", "a1", "zone/A", 10, "x"), rep("final", "a2", "zone/A", 10, "x"),
			{Sample: "serve #1 (1)", Node: "b1", Group: "zone/A-f2", Err: "no state digest for zone/A-f2"},
			{Sample: "serve #1 (1)", Node: "b2", Group: "zone/A-f2", Err: "no state digest for zone/A-f2"},
		}, Unknown},
		{"at the end, the one digested replica of its sample is never met again", []ReplicaSample{
			rep("final (1)", "c1", "zone/C", 10, "DIVERGED"),
			{Sample: "final (1)", Node: "c2", Group: "zone/C", Err: "no state digest for zone/C"},
			{Sample: "final (1)", Node: "c3", Group: "zone/C", Err: "no state digest for zone/C"},
			{Sample: "final (2)", Node: "c1", Err: "connection refused"},
			rep("final (2)", "c2", "zone/C", 11, "x"), rep("final (2)", "c3", "zone/C", 11, "x"),
		}, Unknown},
		{"a store's replicas: one without a digest, the other alone", []ReplicaSample{
			rep("final", "a1", "zone/A", 10, "x"), rep("final", "a2", "zone/A", 10, "x"),
			{Sample: "serve #1 (1)", Node: "b3", Group: "zone/A-f2", Err: "no state digest for zone/A-f2"},
			rep("serve #1 (1)", "b1", "zone/A-f2", 40, "s"),
			rep("serve #1 (2)", "b1", "zone/A-f2", 41, "s"), rep("serve #1 (2)", "b3", "zone/A-f2", 42, "s"),
		}, Unknown},
		{"a replica without a digest at the end, met in a later final sample", []ReplicaSample{
			rep("final (1)", "a1", "zone/A", 10, "x"), rep("final (1)", "a2", "zone/A", 10, "x"),
			{Sample: "final (1)", Node: "a3", Group: "zone/A", Err: "no state digest for zone/A"},
			rep("final (2)", "a1", "zone/A", 10, "x"), rep("final (2)", "a3", "zone/A", 10, "x"),
		}, Valid},
		{"a replica without a digest in every final sample", []ReplicaSample{
			rep("final (1)", "a1", "zone/A", 10, "x"), rep("final (1)", "a2", "zone/A", 10, "x"),
			{Sample: "final (1)", Node: "a3", Group: "zone/A", Err: "no state digest for zone/A"},
			rep("final (2)", "a1", "zone/A", 10, "x"), rep("final (2)", "a2", "zone/A", 10, "x"),
			{Sample: "final (2)", Node: "a3", Group: "zone/A", Err: "no state digest for zone/A"},
		}, Unknown},
		{"final replicas apart", []ReplicaSample{
			rep("final", "a1", "zone/A", 10, "x"), rep("final", "a2", "zone/A", 11, "y"),
		}, Unknown},
		{"a store's replicas never met at one index in its serve step", []ReplicaSample{
			rep("final", "a1", "zone/A", 10, "x"), rep("final", "a2", "zone/A", 10, "x"),
			rep("serve #2 (1)", "b1", "zone/A-f2", 40, "s"), rep("serve #2 (1)", "b2", "zone/A-f2", 41, "t"),
			rep("serve #2 (2)", "b1", "zone/A-f2", 42, "s"), rep("serve #2 (2)", "b2", "zone/A-f2", 43, "t"),
		}, Unknown},
		{"nothing", nil, Unknown},
	}
	for _, tt := range tests {
		t.Run(tt.name, func(t *testing.T) {
			if got := (Digests{Samples: tt.samples}).Check(); got.Verdict != tt.want {
				t.Fatalf("verdict %s, want %s: %+v", got.Verdict, tt.want, got)
			}
		})
	}
}
