// Command etcdtxn is the load client of bench/compare.sh: an idempotent
// insert as an etcd transaction, If(CreateRevision(key)==0) Then(Put)
// Else(Get), from --workers closed-loop workers over --conns connections,
// printing one line of throughput and latency percentiles.
package main

import (
	"context"
	"flag"
	"fmt"
	"math/rand"
	"sort"
	"strings"
	"sync"
	"sync/atomic"
	"time"

	clientv3 "go.etcd.io/etcd/client/v3"
	"go.uber.org/zap"
)

func main() {
	eps := flag.String("endpoints", "127.0.0.1:23791", "comma-separated endpoints")
	conns := flag.Int("conns", 100, "number of clients (gRPC connections)")
	workers := flag.Int("workers", 1000, "concurrent goroutines")
	dur := flag.Duration("d", 20*time.Second, "duration")
	valSize := flag.Int("val", 256, "value size")
	dup := flag.Float64("dup", 0.0, "fraction of requests that re-send an already inserted key")
	flag.Parse()
	cls := make([]*clientv3.Client, *conns)
	for i := range cls {
		c, err := clientv3.New(clientv3.Config{Endpoints: strings.Split(*eps, ","), DialTimeout: 5 * time.Second, Logger: zap.NewNop()})
		if err != nil {
			panic(err)
		}
		cls[i] = c
	}
	val := strings.Repeat("x", *valSize)
	var created, existed, errs atomic.Int64
	lats := make([][]time.Duration, *workers)
	var wg sync.WaitGroup
	deadline := time.Now().Add(*dur)
	runID := time.Now().UnixNano()
	start := time.Now()
	for w := 0; w < *workers; w++ {
		wg.Add(1)
		go func(w int) {
			defer wg.Done()
			cl := cls[w%len(cls)]
			r := rand.New(rand.NewSource(int64(w)))
			var seq int
			for time.Now().Before(deadline) {
				var key string
				if *dup > 0 && seq > 0 && r.Float64() < *dup {
					key = fmt.Sprintf("pay/%d/%d/%d", runID, w, r.Intn(seq))
				} else {
					key = fmt.Sprintf("pay/%d/%d/%d", runID, w, seq)
					seq++
				}
				t0 := time.Now()
				resp, err := cl.Txn(context.Background()).
					If(clientv3.Compare(clientv3.CreateRevision(key), "=", 0)).
					Then(clientv3.OpPut(key, val)).
					Else(clientv3.OpGet(key)).Commit()
				lats[w] = append(lats[w], time.Since(t0))
				if err != nil {
					errs.Add(1)
					continue
				}
				if resp.Succeeded {
					created.Add(1)
				} else {
					existed.Add(1)
				}
			}
		}(w)
	}
	wg.Wait()
	el := time.Since(start)
	var all []time.Duration
	for _, l := range lats {
		all = append(all, l...)
	}
	sort.Slice(all, func(i, j int) bool { return all[i] < all[j] })
	n := len(all)
	p := func(q float64) time.Duration { return all[int(float64(n-1)*q)] }
	fmt.Printf("conns=%d workers=%d dup=%.2f ops=%d created=%d existed=%d errs=%d elapsed=%.1fs ops/s=%.0f p50=%v p90=%v p99=%v p999=%v max=%v\n",
		*conns, *workers, *dup, n, created.Load(), existed.Load(), errs.Load(), el.Seconds(), float64(n)/el.Seconds(),
		p(0.5).Round(10*time.Microsecond), p(0.9).Round(10*time.Microsecond), p(0.99).Round(10*time.Microsecond), p(0.999).Round(10*time.Microsecond), all[n-1].Round(10*time.Microsecond))
}
