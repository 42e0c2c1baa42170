package fsm

import (
	"bytes"
	"encoding/binary"
	"encoding/json"
	"fmt"
	"slices"
	"time"

	"github.com/rzonedb/rzone/internal/api"
)

// Validation of commands whose content may have come from outside rzone.
//
// A committed entry is applied by every replica on every restart, so a
// command that makes apply panic stops the group for good. Every handler
// that proposes content from a request runs Validate before it proposes,
// and apply runs the same Validate first and answers Invalid (the entry
// still counts as applied, identically everywhere) for a command that fails
// it. Validate is a pure function of the command: no state, no clock.
//
// Validate accepts everything rzone itself proposes; it refuses what only a
// hostile or broken caller could send: unknown types, missing or oversized
// fields, values out of range, records that do not decode, keys of the
// wrong shape or shard, and record sets that break the money identity. What
// it lets through may still be refused by apply against the state (wrong
// zone, not found, a shard owned here).

// maxTotal bounds the lifetime totals of an account record (accepted,
// repaid, used, pending) and of a bill's fields: far above any real account
// (10^15 is one amount), far below int64's range, so sums over a command's
// records cannot overflow.
const maxTotal int64 = 1 << 60

// maxNameLen is the longest zone, group or node name a command may carry.
const maxNameLen = 128

// Validate checks a command without looking at any state. Its error wraps
// ErrInvalidCommand.
func (c *Command) Validate() error {
	if msg := c.invalid(); msg != "" {
		return fmt.Errorf("%w: %s: %s", ErrInvalidCommand, c.Type, msg)
	}
	return nil
}

func (c *Command) invalid() string {
	switch c.Type {
	case CmdPutAccount:
		if c.CreditLimit < 0 || c.CreditLimit > api.MaxAmount {
			return fmt.Sprintf("credit limit %d out of range 0..%d", c.CreditLimit, api.MaxAmount)
		}
	case CmdPay:
		if msg := validPay(c); msg != "" {
			return msg
		}
		if len(c.Merchant) > api.MaxMerchantLen {
			return fmt.Sprintf("merchant of %d bytes exceeds %d", len(c.Merchant), api.MaxMerchantLen)
		}
	case CmdPost:
		for _, p := range c.Posts {
			if api.ValidateKey(p.Key) != nil {
				return fmt.Sprintf("post of user %d names invalid key %q", p.User, p.Key)
			}
		}
	case CmdRepay:
		if api.ValidateKey(c.Key) != nil || c.Amount <= 0 || c.Amount > api.MaxAmount {
			return fmt.Sprintf("invalid repayment %q of %d", c.Key, c.Amount)
		}
		if c.Cycle != 0 && !validCycle(c.Cycle) {
			return fmt.Sprintf("cycle %d is not YYYYMM", c.Cycle)
		}
	case CmdRegisterNode:
		if msg := validName("node id", c.NodeID); msg != "" {
			return msg
		}
	case CmdSetShards:
		for _, s := range c.Shards {
			if int(s) >= NumShards {
				return fmt.Sprintf("no shard %d", s)
			}
		}
	case CmdIngest:
		if len(c.Records) == 0 {
			return "no records"
		}
		users, msg := groupRecords(c.Records, -1, moveBuckets)
		if msg != "" {
			return msg
		}
		for _, u := range sortedUsers(users) {
			su := users[u]
			if su.account == nil {
				return fmt.Sprintf("user %d has records but no account record: a shard moves whole users", u)
			}
			if msg := su.check(u); msg != "" {
				return msg
			}
		}
	case CmdMark, CmdClearMarks:
		if msg := validName("zone", c.NodeID); msg != "" {
			return msg
		}
	case CmdNotify:
		if c.Key != JobStatement && c.Key != JobReminder {
			return fmt.Sprintf("unknown job %q", c.Key)
		}
		if !validCycle(c.Cycle) {
			return fmt.Sprintf("cycle %d is not YYYYMM", c.Cycle)
		}
	case CmdFailover:
		if msg := validName("zone", c.NodeID); msg != "" {
			return msg
		}
		if c.Amount < 0 || c.Amount > 100 {
			return fmt.Sprintf("stand-in share %d%% out of range 0..100", c.Amount)
		}
	case CmdMerge:
		if msg := validName("failover group", c.NodeID); msg != "" {
			return msg
		}
		if len(c.Shards) != 1 || int(c.Shards[0]) >= NumShards {
			return "merge needs one shard"
		}
		users, msg := groupRecords(c.Records, int(c.Shards[0]), mergeBuckets)
		if msg != "" {
			return msg
		}
		for _, u := range sortedUsers(users) {
			if msg := users[u].check(u); msg != "" {
				return msg
			}
		}
	case CmdGuardClear:
		if msg := validName("zone", c.NodeID); msg != "" {
			return msg
		}
	case CmdDropShard:
		if len(c.Shards) != 1 || int(c.Shards[0]) >= NumShards {
			return "a drop names one shard"
		}
	case CmdNotifyDelivered:
		for _, n := range c.Notes {
			if (n.Job != JobStatement && n.Job != JobReminder) || !validCycle(n.Cycle) {
				return fmt.Sprintf("delivery of %s/%d for user %d names no notification", n.Job, n.Cycle, n.User)
			}
		}
	default:
		return "unknown command type"
	}
	return ""
}

// ValidName checks a zone or node name as commands carry it (see
// validName); a node refuses to start with a name its commands would be
// refused for.
func ValidName(what, s string) error {
	if msg := validName(what, s); msg != "" {
		return fmt.Errorf("%w: %s", ErrInvalidCommand, msg)
	}
	return nil
}

// MaxLeaseDuration is the longest ownership lease a renewal may ask for.
const MaxLeaseDuration = maxLeaseMs * time.Millisecond

// validName checks a zone, group or node name: 1 to maxNameLen printable
// ASCII bytes. Names are key prefixes followed by a 0 or 1 byte (marks,
// watermarks, merged shards), so they must hold no control byte.
func validName(what, s string) string {
	if len(s) == 0 || len(s) > maxNameLen {
		return fmt.Sprintf("%s must be 1 to %d bytes, got %d", what, maxNameLen, len(s))
	}
	for i := 0; i < len(s); i++ {
		if s[i] < 0x21 || s[i] > 0x7e {
			return fmt.Sprintf("%s byte %d (0x%02x) is not printable ASCII", what, i, s[i])
		}
	}
	return ""
}

// validCycle reports whether c is a billing cycle YYYYMM from 1970 on.
func validCycle(c uint32) bool {
	return c/100 >= 1970 && c/100 <= 9999 && c%100 >= 1 && c%100 <= 12
}

// mergeBuckets are the buckets a failover store's shard export holds.
var mergeBuckets = slices.Concat(shardBuckets, failoverBuckets, effectBuckets)

// groupRecords sorts records by user and checks each one on its own: a
// bucket among allowed, a key of its bucket's shape, every user in shard
// (any one shard when shard is -1), a value that decodes strictly into its
// record type with every field in range.
func groupRecords(recs []Record, shard int, allowed [][]byte) (map[uint64]*storeUser, string) {
	users := map[uint64]*storeUser{}
	for i, r := range recs {
		if !bucketIn(r.Bucket, allowed) {
			return nil, fmt.Sprintf("record %d: bucket %q cannot be written here", i, r.Bucket)
		}
		u, ok := RecordUser(r.Bucket, r.Key)
		if !ok {
			return nil, fmt.Sprintf("record %d: key %x malformed for bucket %q", i, r.Key, r.Bucket)
		}
		if shard < 0 {
			shard = int(u % NumShards)
		}
		if int(u%NumShards) != shard {
			return nil, fmt.Sprintf("record %d: user %d is not in shard %d", i, u, shard)
		}
		su := users[u]
		if su == nil {
			su = &storeUser{payments: map[string][]byte{}, repayments: map[string][]byte{}, bills: map[uint32][]byte{}, fpays: map[string]bool{}}
			users[u] = su
		}
		rest := string(r.Key[8:])
		var msg string
		switch r.Bucket {
		case string(bucketAccounts):
			if len(r.Key) != 8 || su.account != nil {
				return nil, fmt.Sprintf("record %d: account key %x malformed or repeated", i, r.Key)
			}
			su.account = r.Value
			msg = validAccountRec(r.Value)
		case string(bucketPayments):
			if api.ValidateKey(rest) != nil || su.payments[rest] != nil {
				return nil, fmt.Sprintf("record %d: payment key %q malformed or repeated", i, rest)
			}
			su.payments[rest] = r.Value
			msg = validPaymentRec(r.Value)
		case string(bucketRepayments):
			if api.ValidateKey(rest) != nil || su.repayments[rest] != nil {
				return nil, fmt.Sprintf("record %d: repayment key %q malformed or repeated", i, rest)
			}
			su.repayments[rest] = r.Value
			msg = validRepaymentRec(r.Value)
		case string(bucketBills):
			if len(r.Key) != 12 || !validCycle(binary.BigEndian.Uint32(r.Key[8:])) {
				return nil, fmt.Sprintf("record %d: bill key %x malformed", i, r.Key)
			}
			cy := binary.BigEndian.Uint32(r.Key[8:])
			if su.bills[cy] != nil {
				return nil, fmt.Sprintf("record %d: bill %d repeated", i, cy)
			}
			su.bills[cy] = r.Value
			msg = validBillRec(r.Value)
		case string(bucketIsolated):
			if len(r.Key) != 8 || len(r.Value) != 0 {
				return nil, fmt.Sprintf("record %d: blacklist entry %x malformed", i, r.Key)
			}
			su.isolated = true
		case string(bucketFPays):
			if api.ValidateKey(rest) != nil || len(r.Value) != 0 {
				return nil, fmt.Sprintf("record %d: failover payment entry %q malformed", i, rest)
			}
			su.fpays[rest] = true
		case string(bucketOutbox):
			if len(r.Key) != 16 {
				return nil, fmt.Sprintf("record %d: outbox key %x malformed", i, r.Key)
			}
			su.outbox = append(su.outbox, storeNote{index: binary.BigEndian.Uint64(r.Key[8:]), rec: r.Value})
			msg = validNotificationRec(r.Value)
		case string(bucketFBase):
			if !su.base.add(r.Key, r.Value) {
				return nil, fmt.Sprintf("record %d: base record key %x malformed", i, r.Key)
			}
		case string(bucketEffects):
			job := string(r.Key[:len(r.Key)-13])
			if !validJob(job) || !validCycle(binary.BigEndian.Uint32(r.Key[len(r.Key)-12:])) || len(r.Value) != 0 {
				return nil, fmt.Sprintf("record %d: effect record %x malformed", i, r.Key)
			}
			su.effects = append(su.effects, r.Key)
		}
		if msg != "" {
			return nil, fmt.Sprintf("record %d (%s of user %d): %s", i, r.Bucket, u, msg)
		}
	}
	return users, ""
}

func bucketIn(name string, set [][]byte) bool {
	for _, b := range set {
		if string(b) == name {
			return true
		}
	}
	return false
}

// strict decodes a record value as apply will read it, refusing unknown
// fields and trailing data.
func strict(data []byte, v any) string {
	dec := json.NewDecoder(bytes.NewReader(data))
	dec.DisallowUnknownFields()
	if err := dec.Decode(v); err != nil {
		return fmt.Sprintf("value does not decode: %v", err)
	}
	if dec.More() {
		return "value has trailing data"
	}
	return ""
}

func inTotal(vs ...int64) bool {
	for _, v := range vs {
		if v < 0 || v > maxTotal {
			return false
		}
	}
	return true
}

func validAccountRec(v []byte) string {
	var r accountRec
	if msg := strict(v, &r); msg != "" {
		return msg
	}
	if r.Limit < 0 || r.Limit > api.MaxAmount || !inTotal(r.Used, r.Pending, r.Accepted, r.Repaid) {
		return "amount out of range"
	}
	if r.Used+r.Pending != r.Accepted-r.Repaid {
		return fmt.Sprintf("breaks the money identity: used %d + pending %d != accepted %d - repaid %d", r.Used, r.Pending, r.Accepted, r.Repaid)
	}
	return ""
}

func validPaymentRec(v []byte) string {
	var r paymentRec
	if msg := strict(v, &r); msg != "" {
		return msg
	}
	if r.Amount <= 0 || r.Amount > api.MaxAmount || len(r.Merchant) > api.MaxMerchantLen {
		return "amount or merchant out of range"
	}
	if r.Status != api.PaymentAccepted && r.Status != api.PaymentPosted && r.Status != api.PaymentDeclined {
		return fmt.Sprintf("status %q", r.Status)
	}
	return ""
}

func validRepaymentRec(v []byte) string {
	var r repaymentRec
	if msg := strict(v, &r); msg != "" {
		return msg
	}
	if r.Amount <= 0 || r.Amount > api.MaxAmount || !inTotal(r.Owed) || len(r.Alloc) > 1<<12 {
		return "amount out of range"
	}
	if r.Status != api.RepaymentApplied && r.Status != api.RepaymentRefused {
		return fmt.Sprintf("status %q", r.Status)
	}
	return ""
}

func validBillRec(v []byte) string {
	var r billRec
	if msg := strict(v, &r); msg != "" {
		return msg
	}
	if !inTotal(r.Statement, r.Principal, r.Fees, r.Paid, r.Payments) || r.Paid > r.Principal+r.Fees {
		return "amount out of range"
	}
	return ""
}

func validNotificationRec(v []byte) string {
	var r notificationRec
	if msg := strict(v, &r); msg != "" {
		return msg
	}
	if (r.Job != JobStatement && r.Job != JobReminder) || !validCycle(r.Cycle) || !inTotal(r.Amount) {
		return fmt.Sprintf("notification %s/%d malformed", r.Job, r.Cycle)
	}
	return ""
}

// check verifies that one user's records, taken together, are a state apply
// can go on from without breaking the money identity: what is pending is
// the sum of the accepted payments (posting moves each from pending to
// used), and what the bills leave outstanding is covered by what is used (a
// repayment lowers both). A user without an account record carries nothing
// over (merge skips it) and has nothing to check.
func (su *storeUser) check(user uint64) string {
	if su.account == nil {
		return ""
	}
	var acc accountRec
	decode(su.account, &acc) // validated by groupRecords
	var accepted, charged, outstanding int64
	for _, key := range sortedKeys(su.payments) {
		var p paymentRec
		decode(su.payments[key], &p)
		// Each term is at most 10^15 and each sum stops once past its
		// account field (at most maxTotal): no overflow, here or where
		// a merge adds these payments to the zone's account.
		if p.Status == api.PaymentAccepted && accepted <= acc.Pending {
			accepted += p.Amount
		}
		if p.Status != api.PaymentDeclined && charged <= acc.Accepted {
			charged += p.Amount
		}
	}
	if accepted != acc.Pending {
		return fmt.Sprintf("user %d: accepted payments sum to %d or more, the account holds %d pending", user, accepted, acc.Pending)
	}
	if charged != acc.Accepted {
		return fmt.Sprintf("user %d: charged payments sum to %d or more, the account has accepted %d", user, charged, acc.Accepted)
	}
	cycles := make([]uint32, 0, len(su.bills))
	for cy := range su.bills {
		cycles = append(cycles, cy)
	}
	slices.Sort(cycles)
	for _, cy := range cycles {
		var b billRec
		decode(su.bills[cy], &b)
		if outstanding += b.outstanding(); outstanding > acc.Used {
			return fmt.Sprintf("user %d: bills leave %d or more outstanding, the account uses %d", user, outstanding, acc.Used)
		}
	}
	return ""
}

func sortedUsers(users map[uint64]*storeUser) []uint64 {
	out := make([]uint64, 0, len(users))
	for u := range users {
		out = append(out, u)
	}
	slices.Sort(out)
	return out
}

// maxLeaseMs is the longest lease or task lease a command may ask for.
const maxLeaseMs = 10 * 60 * 1000

// Validate checks a meta command without looking at any state: a known
// type, the payload its type needs, names and values in range. Its error
// wraps ErrInvalidCommand.
func (c *MetaCmd) Validate() error {
	msg := c.invalid()
	if msg == "" {
		msg = c.invalidOp()
	}
	if msg != "" {
		return fmt.Errorf("%w: meta command %d: %s", ErrInvalidCommand, c.Type, msg)
	}
	return nil
}

func (c *MetaCmd) invalid() string {
	switch c.Type {
	case MetaInit:
		if len(c.Zones) == 0 || len(c.Zones) > NumShards {
			return fmt.Sprintf("want 1 to %d zones, got %d", NumShards, len(c.Zones))
		}
		names := map[string]bool{}
		for _, z := range c.Zones {
			if msg := validName("zone", z.Name); msg != "" || names[z.Name] {
				return fmt.Sprintf("zone %q: malformed or repeated", z.Name)
			}
			names[z.Name] = true
		}
		for _, z := range c.Zones {
			if z.Backup != "" && !names[z.Backup] {
				return fmt.Sprintf("zone %s: backup %q is no zone", z.Name, z.Backup)
			}
			if z.Phase != "" || z.Failover != nil || z.GuardGap {
				return fmt.Sprintf("zone %s: a new zone has no failover state", z.Name)
			}
		}
		for _, nd := range c.Nodes {
			if msg := validNode(nd); msg != "" {
				return msg
			}
			if !names[nd.Zone] {
				return fmt.Sprintf("node %s is in zone %q, which is no zone", nd.ID, nd.Zone)
			}
		}
		if len(c.ClusterID) > maxNameLen {
			return "cluster id too long"
		}
		return c.invalidToken()
	case MetaRenewLease:
		if msg := validName("zone", c.Zone); msg != "" {
			return msg
		}
		if msg := validName("holder", c.Holder); msg != "" {
			return msg
		}
		if c.DurationMs <= 0 || c.DurationMs > maxLeaseMs {
			return fmt.Sprintf("lease duration %d ms out of range 1..%d", c.DurationMs, maxLeaseMs)
		}
	case MetaSetConfig:
		if c.Key == "" || len(c.Key) > maxNameLen {
			return fmt.Sprintf("config key must be 1 to %d bytes", maxNameLen)
		}
		if len(c.Value) > api.MaxConfigValue {
			return fmt.Sprintf("config value must be at most %d bytes", api.MaxConfigValue)
		}
	case MetaMoveShard, MetaFinishMove:
		if c.Shard < 0 || c.Shard >= NumShards {
			return fmt.Sprintf("no shard %d", c.Shard)
		}
		if msg := validName("target zone", c.Target); msg != "" {
			return msg
		}
	case MetaSetNodeAddr:
		if c.Node == nil {
			return "node missing"
		}
		return validNode(*c.Node)
	case MetaFailover, MetaRecover, MetaGuardReady:
		return validName("zone", c.Zone)
	case MetaPromote:
		for _, f := range []struct{ what, v string }{{"zone", c.Zone}, {"group", c.Group}, {"seed", c.Seed}} {
			if msg := validName(f.what, f.v); msg != "" {
				return msg
			}
		}
	case MetaFinishRecover:
		if msg := validName("zone", c.Zone); msg != "" {
			return msg
		}
		return validName("group", c.Group)
	case MetaSchedCreateRun, MetaSchedGenerated, MetaSchedGenFailed, MetaSchedLease, MetaSchedRenew,
		MetaSchedComplete, MetaSchedExpire, MetaSchedResume, MetaSchedCancel:
		if c.Sched == nil {
			return "scheduler command without payload"
		}
		return c.Sched.invalid(c.Type)
	case MetaTokenCreate, MetaTokenRevoke:
		return c.invalidToken()
	case MetaOpUpdate:
		return "" // invalidOp
	case MetaAddNode:
		if c.Node == nil {
			return "node missing"
		}
		return validNode(*c.Node)
	case MetaRemoveNode, MetaDrainNode:
		return validName("node id", c.NodeID)
	default:
		return "unknown meta command type"
	}
	return ""
}

func validNode(nd NodeInfo) string {
	if msg := validName("node id", nd.ID); msg != "" {
		return msg
	}
	if msg := validName("node zone", nd.Zone); msg != "" {
		return msg
	}
	if len(nd.HTTPAddr) > maxNameLen || len(nd.RaftAddr) > maxNameLen {
		return fmt.Sprintf("node %s: address longer than %d bytes", nd.ID, maxNameLen)
	}
	return ""
}

func (c *SchedCmd) invalid(typ byte) string {
	switch typ {
	case MetaSchedCreateRun:
		if !validJob(c.Job) {
			return fmt.Sprintf("unknown job %q", c.Job)
		}
		if !validCycle(c.Cycle) {
			return fmt.Sprintf("cycle %d is not YYYYMM", c.Cycle)
		}
		if g := c.Gray; g != nil {
			if len(g.Users) > maxWhitelist {
				return fmt.Sprintf("gray whitelist of %d users exceeds %d", len(g.Users), maxWhitelist)
			}
			if g.FromSec < 0 || g.FromSec >= daySeconds || g.ToSec < 0 || g.ToSec > daySeconds {
				return "gray window outside a day"
			}
		}
	case MetaSchedGenerated, MetaSchedGenFailed:
		if c.Shard < 0 || c.Shard >= NumShards {
			return fmt.Sprintf("no shard %d", c.Shard)
		}
		if c.Count < 0 || len(c.Error) > 1<<12 {
			return "count or error out of range"
		}
	case MetaSchedLease:
		if c.Worker == "" || len(c.Worker) > maxNameLen || c.Zone == "" || len(c.Zone) > maxNameLen {
			return "lease needs a worker and a zone"
		}
		if c.TTLMs <= 0 || c.TTLMs > maxLeaseMs || c.Max < 0 || c.Max > 1<<16 || c.Take < 0 {
			return "lease ttl, max or take out of range"
		}
	case MetaSchedRenew, MetaSchedComplete:
		if c.Done < 0 || c.Skipped < 0 || c.Failures < 0 {
			return "negative counts"
		}
	}
	return ""
}
