package fsm

import "errors"

// Errors returned by the decoder and by reads. Business outcomes of commands
// are Result codes, not errors.
var (
	// ErrUnknownVersion means an entry was written by a newer rzone whose
	// format this one cannot read.
	ErrUnknownVersion = errors.New("fsm: unknown entry version")
	// ErrUnknownCommand means an entry holds a command type this version does
	// not know and that is not marked ignorable.
	ErrUnknownCommand = errors.New("fsm: unknown command type")
	// ErrMalformed means an entry's bytes do not decode.
	ErrMalformed = errors.New("fsm: malformed entry")
	// ErrInvalidCommand means a command decodes but its content is not one
	// rzone would propose: a request to refuse before proposing it, and a
	// command apply answers Invalid.
	ErrInvalidCommand = errors.New("fsm: invalid command")
	// ErrNotFound means a read found no such record.
	ErrNotFound = errors.New("fsm: not found")
	// ErrClosed means the state file was closed.
	ErrClosed = errors.New("fsm: closed")
)
