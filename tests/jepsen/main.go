// Command jepsen runs rzone's Jepsen-style fault tests against a zone (or a
// multi-zone cluster) of real rzone processes on this machine, or against
// docker-compose.yml's containers (--backend docker), and writes a report
// folder.
//
//	go run ./tests/jepsen --workload payments,bank,register \
//	    --nemesis kill,partition,pause --time 60s --out DIR --seed N
//	go run ./tests/jepsen --zones 3 --workload payments,bank,register \
//	    --nemesis kill-zone,partition-zone,restart-all,kill --time 60s
//	go run ./tests/jepsen --zones 3 --workload payments,bank \
//	    --nemesis failover --time 60s --interval 30s --fault-duration 5s
//	go run ./tests/jepsen --backend docker --workload payments,bank,register \
//	    --nemesis kill,pause,partition,kill-zone,restart-all --time 60s
//
// Flags:
//
//	--backend NAME      local (default): rzone processes on loopback
//	                    addresses. docker: builds the rzone image (FROM
//	                    scratch) and runs docker-compose.yml's 3 zones × 3
//	                    nodes under a compose project, image tag and /24
//	                    network of its own (--zones and --nodes-per-zone: 3
//	                    or unset; other shapes are refused). Every node's API
//	                    is published on a loopback port of its own; each
//	                    client request goes to one node, which forwards by
//	                    the route table's names (a1:7070 …, resolvable only
//	                    on the network). Nemeses: kill (docker kill -s KILL,
//	                    then docker start), pause (docker pause, unpause),
//	                    partition (docker network disconnect of the node's
//	                    container, then connect with its address and name:
//	                    a real cut, from the clients too), kill-zone and
//	                    restart-all; partition-zone, failover, --inject,
//	                    --clock-rate and --binary are refused. Containers,
//	                    volumes, network and image are removed at the end,
//	                    on error and on Ctrl-C; the nodes' logs go to
//	                    nodes/*/stderr.log. Needs a Docker engine with
//	                    compose; the cluster takes 1 to 3 minutes to start.
//	--workload LIST     payments (a set of payments with same-key retries: nothing
//	                    lost, nothing doubled), register (pays, repays and
//	                    linearizable reads on hot accounts, checked with Porcupine),
//	                    bank (money identity and bounds on every read), sched
//	                    (batch runs, see below). Default payments,register,bank.
//	                    sched runs alone and needs --zones (the scheduler
//	                    lives in the meta group): 300 users, by user index
//	                    mod 10 not due (no bill), due with the bill repaid
//	                    before the runs, half repaid, or unpaid; one client
//	                    runs statement, reminder, autodebit, then statement
//	                    again (must change nothing), and more rounds while
//	                    --time lasts, slowed to 4 tasks at a time
//	                    (sched/window/notify, sched/window/bank) so faults
//	                    land mid-run, with the servers' --sched-lease-ttl at
//	                    3s; each start and progress read is in the history.
//	                    After the faults it waits up to 60s for the runs
//	                    left, then reads every user's account, bill, outbox
//	                    and auto-debit repayment linearizably.
//	--nemesis LIST      kill (kill -9, then restart), pause (SIGSTOP/SIGCONT),
//	                    partition (iptables: cut a node off; needs root),
//	                    lossy (iptables' statistic match: a node's links to
//	                    every other node drop 30% of their packets both
//	                    ways; needs root; this kernel has no tc netem, so
//	                    there is no delay fault),
//	                    restart-all (kill -9 every node, restart them together),
//	                    and with --zones: kill-zone (kill -9 a whole zone, then
//	                    restart it), partition-zone (iptables: cut a zone's
//	                    nodes off from the meta voters outside it, so its lease
//	                    runs out; needs root; give it a --fault-duration above
//	                    the 3s lease), failover (see below), or none.
//	                    failover, with --zones: a zone chosen by the seed is
//	                    lost and failed over. Steps, each a fault-step entry
//	                    with its start and end in the history and nemesis.txt,
//	                    and counted (failover.lag, failover.kill, …) in the
//	                    report: lag (8 extra payment workers on the zone's
//	                    users from a second before; the zone cut off from
//	                    its backup zone by iptables for --backup-lag, so it
//	                    dies with writes its backup's replica lacks; healed
//	                    after the kill; skipped without root), kill (kill -9
//	                    of every node of the zone),
//	                    failover (until the meta leader has failed the zone
//	                    over on its own: the runner sets failover.auto_after
//	                    to --failover-after at start), serve (the workloads
//	                    run against the failover store for --fault-duration),
//	                    restart (the zone's nodes), recover (rzone's recover
//	                    API, until the zone is normal; the zone's status and
//	                    reconciliation report go into the history). With
//	                    failover asked for, a kill-zone whose zone was failed
//	                    over meanwhile is reconciled the same way. Give it an
//	                    --interval of 30s or more: one failover takes about
//	                    15s plus --fault-duration.
//	                    failover-live, with --zones: an operator failover
//	                    of a zone that is alive and under load, on neither
//	                    side of the meta leader. Steps: cut (its raft
//	                    traffic to its backup zone cut by iptables for
//	                    --backup-lag; marks and leases still flow), failover
//	                    (POST /v1/zones/Z/failover while it holds its lease,
//	                    until the store serves; the cut healed), serve,
//	                    recover. Nothing is killed.
//	                    lost-reply: while the fault lasts, every write sent
//	                    through one node (the leader or a random one) is
//	                    applied and its reply lost (a proxy in front of each
//	                    node's API closes the client's connection), so the
//	                    client retries the same key; with failover-live too,
//	                    the zone's write replies for users of even id are
//	                    lost from the failover command until the store
//	                    serves (local backend only).
//	--time D            how long clients run (default 60s).
//	--interval D        time between fault starts (default 10s).
//	--fault-duration D  how long each fault lasts (default 3s).
//	--out DIR           the run folder (default a new folder under $TMPDIR/rzone-jepsen).
//	--seed N            seed of every random choice (default: from the clock, printed).
//	--nodes N           voters in the zone (default 3; ignored with --zones).
//	--zones N           run N zones (A, B, C, …) of --nodes-per-zone nodes each
//	                    (default 0: one standalone zone); users spread over
//	                    every zone, and the lease checker flags writes
//	                    acknowledged after a cut-off zone's lease ran out
//	                    (write-after-lease-expiry).
//	--nodes-per-zone N  nodes of each zone with --zones (default 3).
//	--failover-after D  failover.auto_after set when the failover nemesis
//	                    runs (default 500ms).
//	--failover-pause-auto
//	                    switch automatic failover off while the failover
//	                    nemesis reconciles a zone, until it is ready again
//	                    (default: left on; a just-reconciled zone failed
//	                    over again shows as recover-incomplete).
//	--backup-lag D      how long the failover nemesis cuts the zone off from its
//	                    backup zone before the kill (default 1s; negative: no
//	                    cut).
//	--clock-rate F      with --zones: run one zone's nodes (chosen by the seed)
//	                    with --inject clock-rate=F (faultinject build; their
//	                    lease clock runs F × real time), and aim every
//	                    partition-zone at that zone. The server counts its
//	                    lease 5% short for drift, so at 0.95 or above the run
//	                    stays valid; at 0.5 (the node believes its lease lasts
//	                    twice as long) a partition-zone longer than the lease
//	                    ends valid: false with write-after-lease-expiry, once
//	                    guard marks are off too (--inject drop-guard-mark):
//	                    the cut usually parts the zone from its backup zone's
//	                    leader as well, and marks it cannot write stop its
//	                    writes on their own. The same holds for
//	                    --inject drop-guard-mark,no-lease-fence.
//	--concurrency N     client workers per workload (default 3).
//	--inject NAME       build rzone with -tags faultinject and run every node with
//	                    --inject NAME (skip-idempotency, stale-read,
//	                    no-lease-fence, drop-guard-mark, double-notify, …):
//	                    the run should end valid: false. drop-guard-mark (zone leaders write
//	                    without guard marks) needs --zones 3 --nemesis
//	                    failover: reconciliation then finds accounts off the
//	                    blacklist with writes the failover store lacked, and
//	                    the failover checker reports guard-invariant-violated.
//	--binary PATH       use this rzone binary instead of building ./cmd/rzone.
//	--check-timeout D   Porcupine's time limit per account (default 30s).
//	-v                  log progress to stderr.
//
// Checkers (README.md lists what each proves and cannot see): set and bank
// per workload (every key against every answer its clients received, in
// any era and from any store; a user's log indexes are compared within one
// failover era only; the limit is not checked on accounts merged back from
// a failover store until the zone accepts their next payment);
// linearizable (Porcupine) for register, which is guaranteed in normal
// operation only, so a failover run should leave register out; lease with
// --zones and partition-zone; faults, unknown when a requested fault never
// happened; failover with the failover nemesis:
// every reconciliation report of the run, invalid when it lists
// violations (guard-invariant-violated), when a recover did not bring the
// zone back to normal (recover-incomplete), a lost zone was not failed
// over within 30s (failover-incomplete) or another zone was failed over
// during the fault (unexpected-failover); voided duplicates are listed as
// notes and stay valid. Writes refused with account_isolated (423) are
// definite refusals (not applied). sched, for the sched workload: every
// due user has exactly one statement and, when it owed, one reminder for
// the cycle (missing-statement, duplicate-statement, missing-reminder,
// duplicate-reminder); a user not due, or whose bill was paid before the
// runs, has no notification (unexpected-notification: the server records a
// reminder of a paid bill without sending it); an owing user has one
// applied auto-debit, autodebit-CYCLE-USER, of what it owed and nothing
// more repaid (missing-debit, double-debit, unexpected-debit); every run
// started was seen done and each job was started (run-incomplete). With
// --inject double-notify (a recorded statement or reminder applied again)
// the second statement run ends valid: false with duplicate-statement.
//
// The folder holds history.jsonl, nemesis.txt, results.json, summary.txt,
// latency.png, throughput.png, linearizability-user-*.html for accounts that
// failed, and nodes/*/stderr.log. The summary goes to stdout; its last line
// is "valid: true", "valid: false" or "valid: unknown" (a checker checked
// nothing, a replica could not be read, the cluster did not converge, or a
// requested fault never happened). The exit status is 0 when valid, 1 when
// not, 2 when the run could not be carried out, 3 when unknown.
package main

import (
	"context"
	"errors"
	"flag"
	"fmt"
	"os"
	"os/signal"
	"path/filepath"
	"strings"
	"syscall"
	"time"

	"github.com/rzonedb/rzone/tests/jepsen/checker"
	"github.com/rzonedb/rzone/tests/jepsen/nemesis"
	"github.com/rzonedb/rzone/tests/jepsen/runner"
	"github.com/rzonedb/rzone/tests/jepsen/workload"
)

func main() {
	os.Exit(run())
}

func run() int {
	var (
		backend   = flag.String("backend", runner.BackendLocal, "cluster under test: local (rzone processes on loopback addresses) or docker (docker-compose.yml's 3 zones × 3 nodes)")
		workloads = flag.String("workload", strings.Join(workload.Default, ","), "comma-separated workloads: "+strings.Join(workload.Names, ", "))
		nemeses   = flag.String("nemesis", "kill,pause,partition", "comma-separated faults: "+strings.Join(nemesis.Kinds, ", ")+", or none")
		dur       = flag.Duration("time", 60*time.Second, "how long clients run")
		interval  = flag.Duration("interval", 10*time.Second, "time between fault starts")
		faultDur  = flag.Duration("fault-duration", 3*time.Second, "how long each fault lasts")
		out       = flag.String("out", "", "run folder (default: a new folder under $TMPDIR/rzone-jepsen)")
		seed      = flag.Int64("seed", 0, "seed of every random choice (0: from the clock)")
		nodes     = flag.Int("nodes", 3, "voters in the zone (ignored with --zones)")
		zones     = flag.Int("zones", 0, "zones of a multi-zone cluster (0: one standalone zone)")
		perZone   = flag.Int("nodes-per-zone", 3, "nodes of each zone with --zones")
		foAfter   = flag.Duration("failover-after", 500*time.Millisecond, "failover.auto_after set when the failover nemesis runs")
		autoRecov = flag.Bool("failover-pause-auto", false, "switch automatic failover off while the failover nemesis reconciles a zone")
		backupLag = flag.Duration("backup-lag", time.Second, "how long the failover nemesis cuts the zone off from its backup zone before the kill (negative: no cut)")
		clockRate = flag.Float64("clock-rate", 0, "with --zones: one zone runs with --inject clock-rate=F, and partition-zone cuts it")
		conc      = flag.Int("concurrency", 3, "client workers per workload")
		inject    = flag.String("inject", "", "deliberate server bug to switch on (needs -tags faultinject): skip-idempotency, stale-read, no-lease-fence, …")
		binary    = flag.String("binary", "", "rzone binary to run instead of building ./cmd/rzone")
		checkTO   = flag.Duration("check-timeout", 30*time.Second, "Porcupine's time limit per account")
		verbose   = flag.Bool("v", false, "log progress to stderr")
		insecure  = flag.Bool("insecure", false, "run the local cluster open (no TLS, no tokens); the default is a secure cluster")
	)
	flag.Parse()
	if *seed == 0 {
		*seed = time.Now().UnixNano() % 1_000_000_000
	}
	kinds, err := nemesis.ParseKinds(*nemeses)
	if err != nil {
		fmt.Fprintln(os.Stderr, "jepsen:", err)
		return 2
	}
	if *out == "" {
		*out = filepath.Join(os.TempDir(), "rzone-jepsen", fmt.Sprintf("%s-seed%d", time.Now().Format("20060102-150405"), *seed))
	}
	fmt.Printf("seed: %d (replay with --seed %d)\nout: %s\n", *seed, *seed, *out)
	logf := func(string, ...any) {}
	if *verbose {
		logf = func(format string, args ...any) {
			fmt.Fprintf(os.Stderr, "%s "+format+"\n", append([]any{time.Now().Format("15:04:05.000")}, args...)...)
		}
	}
	ctx, stop := signal.NotifyContext(context.Background(), os.Interrupt, syscall.SIGTERM)
	defer stop()
	rep, err := runner.Run(ctx, runner.Config{
		Backend:                *backend,
		Workloads:              splitList(*workloads),
		Nemeses:                kinds,
		Time:                   *dur,
		Out:                    *out,
		Seed:                   *seed,
		Nodes:                  *nodes,
		Zones:                  *zones,
		NodesPerZone:           *perZone,
		FailoverAfter:          *foAfter,
		BackupLag:              *backupLag,
		PauseAutoDuringRecover: *autoRecov,
		ClockRate:              *clockRate,
		Concurrency:            *conc,
		Interval:               *interval,
		FaultDuration:          *faultDur,
		Inject:                 *inject,
		Binary:                 *binary,
		Insecure:               *insecure,
		CheckTimeout:           *checkTO,
		Stdout:                 os.Stdout,
		Logf:                   logf,
	})
	if err != nil {
		if errors.Is(err, runner.ErrInjectUnsupported) {
			fmt.Fprintln(os.Stderr, "jepsen: this rzone server has no --inject flag; build support for it first")
		}
		fmt.Fprintln(os.Stderr, "jepsen:", err)
		return 2
	}
	switch rep.Verdict {
	case checker.Valid:
		return 0
	case checker.Invalid:
		return 1
	default:
		return 3
	}
}

func splitList(s string) []string {
	var out []string
	for _, p := range strings.Split(s, ",") {
		if p = strings.TrimSpace(p); p != "" {
			out = append(out, p)
		}
	}
	return out
}
