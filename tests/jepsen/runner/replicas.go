package runner

import (
	"context"
	"encoding/json"
	"fmt"
	"github.com/rzonedb/rzone/tests/cluster"
	"net/http"
	"sync"
	"time"

	"github.com/rzonedb/rzone/internal/api"
	"github.com/rzonedb/rzone/tests/jepsen/checker"
)

// replicaSampler reads the state digest of every replica on every node,
// for the replicas checker: during a failover's serve step (the failover
// store's replicas exist only then) and once more at the end of the run.
type replicaSampler struct {
	addrs []string
	sec   *cluster.Security // the harness's node certificate reads /v1/internal/*
	http  *http.Client

	mu      sync.Mutex
	samples []checker.ReplicaSample
}

func newReplicaSampler(addrs []string, sec *cluster.Security) *replicaSampler {
	return &replicaSampler{addrs: addrs, sec: sec, http: sec.HTTPClient(10 * time.Second)}
}

// sample reads every node once, under label, and returns what it read.
func (s *replicaSampler) sample(ctx context.Context, label string) []checker.ReplicaSample {
	out := make([][]checker.ReplicaSample, len(s.addrs))
	var wg sync.WaitGroup
	for i, addr := range s.addrs {
		wg.Add(1)
		go func() {
			defer wg.Done()
			rs, err := s.read(ctx, addr)
			if err != nil {
				out[i] = []checker.ReplicaSample{{Sample: label, Node: addr, Err: err.Error()}}
				return
			}
			for _, r := range rs {
				rs := checker.ReplicaSample{Sample: label, Node: r.Node, Group: r.Group, Applied: r.AppliedIndex, Digest: r.Digest}
				if r.Digest == "" {
					// A replica not digested is not known to agree.
					rs.Err = fmt.Sprintf("no state digest for %s", r.Group)
				}
				out[i] = append(out[i], rs)
			}
		}()
	}
	wg.Wait()
	var all []checker.ReplicaSample
	for _, o := range out {
		all = append(all, o...)
	}
	s.mu.Lock()
	s.samples = append(s.samples, all...)
	s.mu.Unlock()
	return all
}

func (s *replicaSampler) read(ctx context.Context, addr string) ([]api.ReplicaState, error) {
	req, err := http.NewRequestWithContext(ctx, http.MethodGet, s.sec.Scheme()+"://"+addr+"/v1/internal/replicas?digest=1", nil)
	if err != nil {
		return nil, err
	}
	s.sec.Authorize(req)
	resp, err := s.http.Do(req)
	if err != nil {
		return nil, err
	}
	defer resp.Body.Close()
	if resp.StatusCode != http.StatusOK {
		return nil, fmt.Errorf("replicas of %s: HTTP %d", addr, resp.StatusCode)
	}
	var rs []api.ReplicaState
	if err := json.NewDecoder(resp.Body).Decode(&rs); err != nil {
		return nil, fmt.Errorf("replicas of %s: %w", addr, err)
	}
	return rs, nil
}

// during samples under load, 100ms apart, until every group seen in two
// replicas or more has had two of them met at one applied index, and every
// replica that answered a sample without a digest has been met too (they
// are compared then), up to 40 samples or 15s: under load (a CI machine
// running other tests) a group's replicas can take that many to meet.
func (s *replicaSampler) during(label string) {
	ctx, cancel := context.WithTimeout(context.Background(), 15*time.Second)
	defer cancel()
	seen, met := map[string]bool{}, map[string]bool{}
	missing, metReplica := map[[2]string]bool{}, map[[2]string]bool{}
	for i := 1; i <= 40 && ctx.Err() == nil; i++ {
		at := map[string]map[uint64][]string{}
		listed := map[string]int{}
		for _, r := range s.sample(ctx, fmt.Sprintf("%s (%d)", label, i)) {
			if r.Group == "" {
				continue
			}
			listed[r.Group]++
			if r.Err != "" {
				missing[[2]string{r.Group, r.Node}] = true
				continue
			}
			if at[r.Group] == nil {
				at[r.Group] = map[uint64][]string{}
			}
			at[r.Group][r.Applied] = append(at[r.Group][r.Applied], r.Node)
		}
		for g, n := range listed {
			if n > 1 {
				seen[g] = true
			}
		}
		for g, idx := range at {
			for _, nodes := range idx {
				if len(nodes) > 1 {
					met[g] = true
					for _, n := range nodes {
						metReplica[[2]string{g, n}] = true
					}
				}
			}
		}
		done := len(seen) > 0 && len(met) == len(seen)
		for rp := range missing {
			if !metReplica[rp] {
				done = false
			}
		}
		if done {
			return
		}
		time.Sleep(100 * time.Millisecond)
	}
}

// final samples the settled cluster, 300ms apart, until every replica has
// been met with another of its group at one applied index (a group that
// keeps writing, like the meta group renewing leases, need not stand still
// for all of its replicas at once), up to 30 samples.
func (s *replicaSampler) final(ctx context.Context) {
	met := map[[2]string]bool{}
	for try := 1; try <= 30 && ctx.Err() == nil; try++ {
		got := s.sample(ctx, fmt.Sprintf("%s (%d)", checker.FinalSample, try))
		at := map[string]map[uint64][]string{}
		all := true
		for _, r := range got {
			if r.Err != "" {
				all = false
				continue
			}
			if at[r.Group] == nil {
				at[r.Group] = map[uint64][]string{}
			}
			at[r.Group][r.Applied] = append(at[r.Group][r.Applied], r.Node)
		}
		for g, idx := range at {
			for _, nodes := range idx {
				if len(nodes) > 1 {
					for _, n := range nodes {
						met[[2]string{g, n}] = true
					}
				}
			}
		}
		for _, r := range got {
			n := 0
			for _, nodes := range at[r.Group] {
				n += len(nodes)
			}
			if r.Err == "" && n > 1 && !met[[2]string{r.Group, r.Node}] {
				all = false
			}
		}
		if all {
			return
		}
		time.Sleep(300 * time.Millisecond)
	}
}

// check judges every sample taken.
func (s *replicaSampler) check() *checker.Result {
	s.mu.Lock()
	defer s.mu.Unlock()
	return checker.Digests{Samples: s.samples}.Check()
}
