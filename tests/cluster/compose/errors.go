package compose

import "errors"

// ErrUnusable marks why Docker cannot run the cluster here: no docker
// binary, no reachable daemon or no compose. Tests skip on it.
var ErrUnusable = errors.New("compose: docker is not usable")
