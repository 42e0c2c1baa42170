package fsm

import "github.com/rzonedb/rzone/internal/api"

// Code is the business outcome of one command.
type Code uint8

// Outcomes. A declined payment and a refused repayment are stored under their
// key: replaying the key returns the same Code with Replay set.
const (
	OK                 Code = iota // applied
	Conflict                       // the key was used before with other parameters
	InsufficientCredit             // payment declined: amount > available credit
	Overpayment                    // repayment refused: amount > what is owed
	NotFound                       // no such account (nothing stored)
	Invalid                        // refused as invalid (nothing stored); Msg says why
	WrongZone                      // the user's shard is not owned by this zone (nothing stored)
	Isolated                       // a state-type write to a blacklisted account in a failover store (nothing stored)
)

func (c Code) String() string {
	switch c {
	case OK:
		return "ok"
	case Conflict:
		return "idempotency_conflict"
	case InsufficientCredit:
		return "insufficient_credit"
	case Overpayment:
		return "overpayment"
	case NotFound:
		return "not_found"
	case Invalid:
		return "invalid_argument"
	case WrongZone:
		return "wrong_zone"
	case Isolated:
		return "account_isolated"
	}
	return "unknown"
}

// Result is what applying one command produced.
type Result struct {
	Code Code
	// Replay is set when the key had been decided before and this is the
	// original outcome, returned again.
	Replay bool
	Msg    string

	Account   *api.Account
	Payment   *api.Payment
	Repayment *api.Repayment
	// Posted counts the payments a CmdPost booked.
	Posted int
	// Delivered counts the notifications a CmdNotifyDelivered marked delivered
	// (not those marked before).
	Delivered int
	// Epoch is the zone's ownership epoch of the shard, with WrongZone.
	Epoch uint64
	// Merge is what a CmdMerge did.
	Merge *MergeReport
}
