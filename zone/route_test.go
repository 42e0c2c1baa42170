package zone

import "testing"

func TestShardOf(t *testing.T) {
	for _, tc := range []struct {
		user uint64
		want Shard
	}{{0, 0}, {99, 99}, {100, 0}, {12345, 45}, {^uint64(0), Shard(^uint64(0) % 100)}} {
		if got := ShardOf(tc.user); got != tc.want {
			t.Errorf("ShardOf(%d) = %d, want %d", tc.user, got, tc.want)
		}
	}
	if z, e := Single("z1").Route(7); z != "z1" || e != 1 {
		t.Fatalf("Single route: %s %d", z, e)
	}
}
