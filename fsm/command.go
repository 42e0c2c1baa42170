package fsm

import (
	"encoding/binary"
	"fmt"
	"math"
)

// EntryVersion is the format version written into every log entry. A later
// rzone keeps decoding every version it has ever written.
const EntryVersion byte = 1

// CmdType is the one-byte type of a command. Types with IgnorableFlag set may
// be skipped by an older version that does not know them; any other unknown
// type stops the replica rather than let it diverge.
type CmdType byte

// IgnorableFlag marks a command type an older replica may skip.
const IgnorableFlag CmdType = 0x80

// Command types. Their numbers are part of the log format: never reuse one.
const (
	CmdPutAccount      CmdType = 1  // set a user's credit limit, creating the account
	CmdPay             CmdType = 2  // insert a payment under an idempotency key
	CmdPost            CmdType = 3  // book accepted payments into their bills
	CmdRepay           CmdType = 4  // pay down bills under an idempotency key
	CmdRegisterNode    CmdType = 5  // record a node's addresses
	CmdSetShards       CmdType = 6  // take or give up ownership of shards at an epoch
	CmdIngest          CmdType = 7  // write a moving shard's records
	CmdMark            CmdType = 8  // set guard marks for accounts of another zone
	CmdClearMarks      CmdType = 9  // clear guard marks no newer than given
	CmdNotify          CmdType = 10 // a scheduler effect: statement or reminder, once per (job, cycle, user)
	CmdFailover        CmdType = 11 // make a promoted replica a failover store: blacklist and stand-in limit
	CmdMerge           CmdType = 12 // merge one shard of a failover store back into its zone
	CmdGuardClear      CmdType = 13 // clear guard marks, with the backup's applied watermark they rest on
	CmdNotifyDelivered CmdType = 14 // mark outbox notifications delivered by the notifier
	CmdDropShard       CmdType = 15 // drop a moved-away shard's outbox and effect records
)

func (t CmdType) String() string {
	switch t {
	case CmdPutAccount:
		return "put_account"
	case CmdPay:
		return "pay"
	case CmdPost:
		return "post"
	case CmdRepay:
		return "repay"
	case CmdRegisterNode:
		return "register_node"
	case CmdSetShards:
		return "set_shards"
	case CmdIngest:
		return "ingest"
	case CmdMark:
		return "mark"
	case CmdClearMarks:
		return "clear_marks"
	case CmdNotify:
		return "notify"
	case CmdFailover:
		return "failover"
	case CmdMerge:
		return "merge"
	case CmdGuardClear:
		return "guard_clear"
	case CmdNotifyDelivered:
		return "notify_delivered"
	case CmdDropShard:
		return "drop_shard"
	}
	return fmt.Sprintf("cmd(%d)", byte(t))
}

// PostRef names one payment for CmdPost.
type PostRef struct {
	User uint64
	Key  string
}

// NoteRef names one outbox notification for CmdNotifyDelivered by its
// (job, cycle, user), from which its idempotency key is derived.
type NoteRef struct {
	User  uint64
	Job   string
	Cycle uint32
}

// Command is one state change. Which fields matter depends on Type:
//
//	CmdPutAccount:   User, Time, CreditLimit
//	CmdPay:          User, Time, Key, Amount, Merchant
//	CmdPost:         Time, Posts
//	CmdRepay:        User, Time, Key, Amount, Cycle (0 = oldest bills first)
//	CmdRegisterNode: NodeID, RaftAddr, HTTPAddr
//	CmdSetShards:    Shards, Epoch, Own
//	CmdIngest:       Records
//	CmdMark, CmdClearMarks: NodeID (the marked zone's name), Marks
//	CmdNotify:       User, Time, Key (the job), Cycle
//	CmdFailover:     NodeID (the failed zone), Epoch (the route epoch of the promotion), Amount (stand-in percent), Marks (the blacklist: users only)
//	CmdMerge:        NodeID (the failover group), Shards (one shard), Records (the store's records of the shard)
//	CmdGuardClear:   NodeID (the marked zone), Epoch (the backup replicas' lowest applied index the clear rests on),
//	                 Term (also clear every mark set at a lower term; 0: none), Marks
//	CmdNotifyDelivered: Time (the delivery's record time), Notes
//	CmdDropShard:    Shards (one shard), Epoch (the epoch the zone gave it up at)
//
// Time is Unix milliseconds stamped by the leader that proposed it; apply
// uses it as "now".
type Command struct {
	Type        CmdType
	User        uint64
	Time        int64
	Key         string
	Amount      int64
	Merchant    string
	Cycle       uint32
	CreditLimit int64
	Posts       []PostRef
	NodeID      string
	RaftAddr    string
	HTTPAddr    string
	Shards      []byte
	Epoch       uint64
	Own         bool
	Records     []Record
	Marks       []Mark
	Term        uint64
	Notes       []NoteRef
}

// Decoder limits: an entry that claims more than these is malformed.
const (
	maxCommandsPerEntry = 1 << 16
	maxPostsPerCommand  = 1 << 16
	maxStringLen        = 1 << 12
	maxValueLen         = 1 << 20
)

// Encode appends the entry holding cmds to dst and returns it.
func Encode(dst []byte, cmds ...Command) []byte {
	dst = append(dst, EntryVersion)
	dst = binary.AppendUvarint(dst, uint64(len(cmds)))
	for i := range cmds {
		dst = cmds[i].appendTo(dst)
	}
	return dst
}

func (c *Command) appendTo(b []byte) []byte {
	b = append(b, byte(c.Type))
	switch c.Type {
	case CmdPutAccount:
		b = binary.AppendUvarint(b, c.User)
		b = binary.AppendVarint(b, c.Time)
		b = binary.AppendVarint(b, c.CreditLimit)
	case CmdPay:
		b = binary.AppendUvarint(b, c.User)
		b = binary.AppendVarint(b, c.Time)
		b = appendString(b, c.Key)
		b = binary.AppendVarint(b, c.Amount)
		b = appendString(b, c.Merchant)
	case CmdPost:
		b = binary.AppendVarint(b, c.Time)
		b = binary.AppendUvarint(b, uint64(len(c.Posts)))
		for _, p := range c.Posts {
			b = binary.AppendUvarint(b, p.User)
			b = appendString(b, p.Key)
		}
	case CmdRepay:
		b = binary.AppendUvarint(b, c.User)
		b = binary.AppendVarint(b, c.Time)
		b = appendString(b, c.Key)
		b = binary.AppendVarint(b, c.Amount)
		b = binary.AppendUvarint(b, uint64(c.Cycle))
	case CmdRegisterNode:
		b = appendString(b, c.NodeID)
		b = appendString(b, c.RaftAddr)
		b = appendString(b, c.HTTPAddr)
	case CmdSetShards:
		b = binary.AppendUvarint(b, c.Epoch)
		own := byte(0)
		if c.Own {
			own = 1
		}
		b = append(b, own)
		b = appendString(b, string(c.Shards))
	case CmdIngest:
		b = appendRecords(b, c.Records)
	case CmdFailover:
		b = appendString(b, c.NodeID)
		b = binary.AppendUvarint(b, c.Epoch)
		b = binary.AppendVarint(b, c.Amount)
		b = appendMarks(b, c.Marks)
	case CmdMerge:
		b = appendString(b, c.NodeID)
		b = appendString(b, string(c.Shards))
		b = appendRecords(b, c.Records)
	case CmdGuardClear:
		b = appendString(b, c.NodeID)
		b = binary.AppendUvarint(b, c.Epoch)
		b = binary.AppendUvarint(b, c.Term)
		b = appendMarks(b, c.Marks)
	case CmdNotify:
		b = binary.AppendUvarint(b, c.User)
		b = binary.AppendVarint(b, c.Time)
		b = appendString(b, c.Key)
		b = binary.AppendUvarint(b, uint64(c.Cycle))
	case CmdMark, CmdClearMarks:
		b = appendString(b, c.NodeID)
		b = appendMarks(b, c.Marks)
	case CmdDropShard:
		b = binary.AppendUvarint(b, c.Epoch)
		b = appendString(b, string(c.Shards))
	case CmdNotifyDelivered:
		b = binary.AppendVarint(b, c.Time)
		b = binary.AppendUvarint(b, uint64(len(c.Notes)))
		for _, n := range c.Notes {
			b = binary.AppendUvarint(b, n.User)
			b = appendString(b, n.Job)
			b = binary.AppendUvarint(b, uint64(n.Cycle))
		}
	default:
		panic(fmt.Sprintf("fsm: encode of unknown command type %d", c.Type))
	}
	return b
}

func appendMarks(b []byte, marks []Mark) []byte {
	b = binary.AppendUvarint(b, uint64(len(marks)))
	for _, m := range marks {
		b = binary.AppendUvarint(b, m.User)
		b = binary.AppendUvarint(b, m.Term)
		b = binary.AppendUvarint(b, m.Seq)
	}
	return b
}

func appendRecords(b []byte, recs []Record) []byte {
	b = binary.AppendUvarint(b, uint64(len(recs)))
	for _, r := range recs {
		b = appendString(b, r.Bucket)
		b = appendBytes(b, r.Key)
		b = appendBytes(b, r.Value)
	}
	return b
}

func appendBytes(b []byte, v []byte) []byte {
	b = binary.AppendUvarint(b, uint64(len(v)))
	return append(b, v...)
}

func appendString(b []byte, s string) []byte {
	b = binary.AppendUvarint(b, uint64(len(s)))
	return append(b, s...)
}

// Decode parses an entry into its commands. Unknown ignorable commands are
// dropped; every other problem is an error wrapping ErrUnknownVersion,
// ErrUnknownCommand or ErrMalformed. Decode never panics on any input.
func Decode(data []byte) ([]Command, error) {
	r := reader{b: data}
	v := r.byte()
	if r.err != nil {
		return nil, fmt.Errorf("%w: empty entry", ErrMalformed)
	}
	if v != EntryVersion {
		return nil, fmt.Errorf("%w: %d", ErrUnknownVersion, v)
	}
	n := r.uvarint()
	if r.err == nil && n > maxCommandsPerEntry {
		return nil, fmt.Errorf("%w: %d commands in one entry", ErrMalformed, n)
	}
	cmds := make([]Command, 0, min(n, 64))
	for i := uint64(0); i < n && r.err == nil; i++ {
		var c Command
		c.Type = CmdType(r.byte())
		switch c.Type {
		case CmdPutAccount:
			c.User, c.Time, c.CreditLimit = r.uvarint(), r.varint(), r.varint()
		case CmdPay:
			c.User, c.Time = r.uvarint(), r.varint()
			c.Key, c.Amount, c.Merchant = r.string(), r.varint(), r.string()
		case CmdPost:
			c.Time = r.varint()
			np := r.uvarint()
			if r.err == nil && np > maxPostsPerCommand {
				return nil, fmt.Errorf("%w: %d posts in one command", ErrMalformed, np)
			}
			for j := uint64(0); j < np && r.err == nil; j++ {
				c.Posts = append(c.Posts, PostRef{User: r.uvarint(), Key: r.string()})
			}
		case CmdRepay:
			c.User, c.Time = r.uvarint(), r.varint()
			c.Key, c.Amount = r.string(), r.varint()
			cy := r.uvarint()
			if cy > math.MaxUint32 {
				return nil, fmt.Errorf("%w: cycle %d", ErrMalformed, cy)
			}
			c.Cycle = uint32(cy)
		case CmdRegisterNode:
			c.NodeID, c.RaftAddr, c.HTTPAddr = r.string(), r.string(), r.string()
		case CmdSetShards:
			c.Epoch = r.uvarint()
			switch r.byte() {
			case 0:
			case 1:
				c.Own = true
			default:
				r.fail("bad ownership flag")
			}
			if sh := r.string(); sh != "" {
				c.Shards = []byte(sh)
			}
		case CmdNotify:
			c.User, c.Time, c.Key = r.uvarint(), r.varint(), r.string()
			cy := r.uvarint()
			if cy > math.MaxUint32 {
				return nil, fmt.Errorf("%w: cycle %d", ErrMalformed, cy)
			}
			c.Cycle = uint32(cy)
		case CmdMark, CmdClearMarks:
			c.NodeID = r.string()
			c.Marks = r.marks()
		case CmdIngest:
			c.Records = r.records()
		case CmdFailover:
			c.NodeID, c.Epoch, c.Amount = r.string(), r.uvarint(), r.varint()
			c.Marks = r.marks()
		case CmdMerge:
			c.NodeID = r.string()
			if sh := r.string(); sh != "" {
				c.Shards = []byte(sh)
			}
			c.Records = r.records()
		case CmdGuardClear:
			c.NodeID, c.Epoch, c.Term = r.string(), r.uvarint(), r.uvarint()
			c.Marks = r.marks()
		case CmdNotifyDelivered:
			c.Time = r.varint()
			c.Notes = r.notes()
		case CmdDropShard:
			c.Epoch = r.uvarint()
			if sh := r.string(); sh != "" {
				c.Shards = []byte(sh)
			}
		default:
			if r.err == nil && c.Type&IgnorableFlag != 0 {
				// An ignorable command's body is length-prefixed so that
				// older versions can step over it.
				_ = r.string()
				continue
			}
			if r.err == nil {
				return nil, fmt.Errorf("%w: %d", ErrUnknownCommand, byte(c.Type))
			}
		}
		if r.err == nil {
			cmds = append(cmds, c)
		}
	}
	if r.err != nil {
		return nil, fmt.Errorf("%w: %v", ErrMalformed, r.err)
	}
	if len(r.b) != r.off {
		return nil, fmt.Errorf("%w: %d trailing bytes", ErrMalformed, len(r.b)-r.off)
	}
	return cmds, nil
}

// marks reads a list of marks written by appendMarks.
func (r *reader) marks() []Mark {
	n := r.uvarint()
	if r.err == nil && n > maxPostsPerCommand {
		r.fail("%d marks in one command", n)
	}
	var out []Mark
	for j := uint64(0); j < n && r.err == nil; j++ {
		out = append(out, Mark{User: r.uvarint(), Term: r.uvarint(), Seq: r.uvarint()})
	}
	return out
}

// notes reads the list of a CmdNotifyDelivered.
func (r *reader) notes() []NoteRef {
	n := r.uvarint()
	if r.err == nil && n > maxPostsPerCommand {
		r.fail("%d notes in one command", n)
	}
	var out []NoteRef
	for j := uint64(0); j < n && r.err == nil; j++ {
		u, job, cy := r.uvarint(), r.string(), r.uvarint()
		if cy > math.MaxUint32 {
			r.fail("cycle %d", cy)
		}
		out = append(out, NoteRef{User: u, Job: job, Cycle: uint32(cy)})
	}
	return out
}

// records reads a list of records written by appendRecords.
func (r *reader) records() []Record {
	n := r.uvarint()
	if r.err == nil && n > maxPostsPerCommand {
		r.fail("%d records in one command", n)
	}
	var out []Record
	for j := uint64(0); j < n && r.err == nil; j++ {
		out = append(out, Record{Bucket: r.string(), Key: []byte(r.string()), Value: []byte(r.bigString())})
	}
	return out
}

// bigString is string with room for a whole record value.
func (r *reader) bigString() string {
	n := r.uvarint()
	if r.err != nil {
		return ""
	}
	if n > maxValueLen || n > uint64(len(r.b)-r.off) {
		r.fail("value of %d bytes at byte %d", n, r.off)
		return ""
	}
	s := string(r.b[r.off : r.off+int(n)])
	r.off += int(n)
	return s
}

// reader decodes with a sticky error: after the first failure every read
// returns a zero value.
type reader struct {
	b   []byte
	off int
	err error
}

func (r *reader) fail(format string, args ...any) {
	if r.err == nil {
		r.err = fmt.Errorf(format, args...)
	}
}

func (r *reader) byte() byte {
	if r.err != nil {
		return 0
	}
	if r.off >= len(r.b) {
		r.fail("short entry at byte %d", r.off)
		return 0
	}
	v := r.b[r.off]
	r.off++
	return v
}

func (r *reader) uvarint() uint64 {
	if r.err != nil {
		return 0
	}
	v, n := binary.Uvarint(r.b[r.off:])
	if n <= 0 {
		r.fail("bad uvarint at byte %d", r.off)
		return 0
	}
	r.off += n
	return v
}

func (r *reader) varint() int64 {
	if r.err != nil {
		return 0
	}
	v, n := binary.Varint(r.b[r.off:])
	if n <= 0 {
		r.fail("bad varint at byte %d", r.off)
		return 0
	}
	r.off += n
	return v
}

func (r *reader) string() string {
	n := r.uvarint()
	if r.err != nil {
		return ""
	}
	if n > maxStringLen || n > uint64(len(r.b)-r.off) {
		r.fail("string of %d bytes at byte %d", n, r.off)
		return ""
	}
	s := string(r.b[r.off : r.off+int(n)])
	r.off += int(n)
	return s
}
