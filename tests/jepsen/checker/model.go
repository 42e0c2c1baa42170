package checker

import (
	"fmt"

	"github.com/anishathalye/porcupine"
)

// acct is the model's state of one account: what a linearizable read of it
// must show. Used and pending are folded into owed, because posting moves
// money between them at times no client sees.
type acct struct {
	Limit    int64
	Owed     int64
	Accepted int64
	Repaid   int64
}

// linIn is the input of a model operation.
type linIn struct {
	F      string // pay, repay, read
	Key    string
	Amount int64
}

// linOut is the output of a model operation.
type linOut struct {
	// Unknown: the operation may or may not have applied (it never got a
	// definite answer). Porcupine keeps it pending until the end.
	Unknown bool
	// Status is accepted/declined for pay, applied/refused for repay.
	Status string
	// Read is what a read returned.
	Read acct
}

// accountModel is the sequential specification of one account:
//
//   - pay accepted: owed + amount ≤ limit; owed and accepted grow by amount.
//   - pay declined: owed + amount > limit; nothing changes.
//   - repay applied: amount ≤ owed; owed shrinks, repaid grows by amount.
//   - repay refused: nothing changes. (Refusal depends on how much has been
//     posted into bills, which no client sees, so any refusal is allowed;
//     a refused repayment that in fact applied still shows in later reads.)
//   - read: returns the state exactly.
//   - an unknown pay or repay may have applied or not.
var accountModel = porcupine.NondeterministicModel{
	Init: func() []interface{} { return []interface{}{acct{}} },
	Step: func(state, input, output interface{}) []interface{} {
		s := state.(acct)
		in := input.(linIn)
		out := output.(linOut)
		switch in.F {
		case "pay":
			applied := s
			applied.Owed += in.Amount
			applied.Accepted += in.Amount
			fits := s.Owed+in.Amount <= s.Limit
			switch {
			case out.Unknown && fits:
				return []interface{}{s, applied}
			case out.Unknown:
				return []interface{}{s}
			case paid(out.Status) && fits:
				return []interface{}{applied}
			case out.Status == "declined" && !fits:
				return []interface{}{s}
			}
			return nil
		case "repay":
			applied := s
			applied.Owed -= in.Amount
			applied.Repaid += in.Amount
			fits := in.Amount <= s.Owed
			switch {
			case out.Unknown && fits:
				return []interface{}{s, applied}
			case out.Unknown, out.Status == "refused":
				return []interface{}{s}
			case out.Status == "applied" && fits:
				return []interface{}{applied}
			}
			return nil
		case "read":
			if out.Read == s {
				return []interface{}{s}
			}
			return nil
		}
		return nil
	},
	Equal: func(a, b interface{}) bool { return a.(acct) == b.(acct) },
	DescribeOperation: func(input, output interface{}) string {
		in := input.(linIn)
		out := output.(linOut)
		switch {
		case in.F == "read":
			r := out.Read
			return fmt.Sprintf("read → owed %d, accepted %d, repaid %d", r.Owed, r.Accepted, r.Repaid)
		case out.Unknown:
			return fmt.Sprintf("%s %s %d → ?", in.F, in.Key, in.Amount)
		default:
			return fmt.Sprintf("%s %s %d → %s", in.F, in.Key, in.Amount, out.Status)
		}
	},
	DescribeState: func(state interface{}) string {
		s := state.(acct)
		return fmt.Sprintf("limit %d, owed %d, accepted %d, repaid %d", s.Limit, s.Owed, s.Accepted, s.Repaid)
	},
}

// modelFor is accountModel starting from an account with the given limit.
func modelFor(limit int64) porcupine.Model {
	m := accountModel
	m.Init = func() []interface{} { return []interface{}{acct{Limit: limit}} }
	return m.ToModel()
}
