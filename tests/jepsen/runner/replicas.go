package runner

import (
	"context"
	"encoding/json"
	"fmt"
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
	http  *http.Client

	mu      sync.Mutex
	samples []checker.ReplicaSample
}

func newReplicaSampler(addrs []string) *replicaSampler {
	return &replicaSampler{addrs: addrs, http: &http.Client{Timeout: 10 * time.Second}}
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
	req, err := http.NewRequestWithContext(ctx, http.MethodGet, "http://"+addr+"/v1/internal/replicas?digest=1", nil)
	if err != nil {
		return nil, err
	}
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
// replicas or more has had two of them met at one applied index (they are
// compared then), up to 25 samples.
func (s *replicaSampler) during(label string) {
	ctx, cancel := context.WithTimeout(context.Background(), 15*time.Second)
	defer cancel()
	seen, met := map[string]bool{}, map[string]bool{}
	for i := 1; i <= 25 && ctx.Err() == nil; i++ {
		at := map[string]map[uint64]int{}
		for _, r := range s.sample(ctx, fmt.Sprintf("%s (%d)", label, i)) {
			if r.Err != "" {
				continue
			}
			if at[r.Group] == nil {
				at[r.Group] = map[uint64]int{}
			}
			at[r.Group][r.Applied]++
		}
		for g, idx := range at {
			n := 0
			for _, c := range idx {
				n += c
				if c > 1 {
					met[g] = true
				}
			}
			if n > 1 {
				seen[g] = true
			}
		}
		if len(seen) > 0 && len(met) == len(seen) {
			return
		}
		time.Sleep(100 * time.Millisecond)
	}
}

// final samples the quiet cluster until every group's replicas are at one
// applied index, up to 20 tries, and keeps only the last sample as the
// final one.
func (s *replicaSampler) final(ctx context.Context) {
	for try := 0; try < 20 && ctx.Err() == nil; try++ {
		got := s.sample(ctx, fmt.Sprintf("%s (%d)", checker.SettlingSample, try))
		if converged(got) {
			break
		}
		time.Sleep(500 * time.Millisecond)
	}
	s.mu.Lock()
	defer s.mu.Unlock()
	// The last sample is the final one; earlier settling samples still
	// count where they met replicas at one index.
	last := s.samples[len(s.samples)-1].Sample
	for i := range s.samples {
		if s.samples[i].Sample == last {
			s.samples[i].Sample = "final"
		}
	}
}

// converged reports whether every group in a sample has its replicas at one
// applied index and every node was read.
func converged(sample []checker.ReplicaSample) bool {
	at := map[string]uint64{}
	for _, r := range sample {
		if r.Err != "" {
			return false
		}
		if idx, ok := at[r.Group]; ok && idx != r.Applied {
			return false
		}
		at[r.Group] = r.Applied
	}
	return true
}

// check judges every sample taken.
func (s *replicaSampler) check() *checker.Result {
	s.mu.Lock()
	defer s.mu.Unlock()
	return checker.Digests{Samples: s.samples}.Check()
}
