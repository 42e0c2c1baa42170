package zone

import "testing"

func TestSingleRoute(t *testing.T) {
	for _, user := range []uint64{0, 99, 100, 12345, ^uint64(0)} {
		if z, e := Single("z1").Route(user); z != "z1" || e != 1 {
			t.Fatalf("Single route of user %d: %s %d", user, z, e)
		}
	}
}
