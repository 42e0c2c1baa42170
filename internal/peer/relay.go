package peer

import (
	"bytes"
	"context"
	"encoding/json"
	"fmt"
	"io"
	"net/http"
	"strconv"
	"sync"
	"time"

	"github.com/rzonedb/rzone/internal/api"
)

// Relay is how Client.Relay passes one request on to another node (the
// write proxy: a node that does not lead a zone forwards to its leader).
type Relay struct {
	// Hops is the hop count the relayed request carries (HeaderHops).
	Hops int
	// Write marks a write: a failure after the request may have reached
	// the other node is an unknown outcome, not unavailable.
	Write bool
	// InDoubt marks a write an earlier relay of which was abandoned after
	// it may have reached a node: whatever this one gets that does not
	// settle the key (a success, or the key's own answer) is an unknown
	// outcome, since that earlier delivery may have been applied.
	InDoubt bool
	// Moved, when it closes before a reply arrives, abandons the request
	// (the leader changed); nil never closes.
	Moved <-chan struct{}
	// Timeout bounds the request and its reply.
	Timeout time.Duration
	// Headers are the reply's headers copied back when set.
	Headers []string
	// LeaderHeader is set on the reply: the other node's own value of it,
	// else addr.
	LeaderHeader string
	// Forget is called when addr may no longer be the node to ask (a read
	// failed, or a write was never sent).
	Forget func()
	// Count counts each outcome: ok, unknown_outcome or unavailable.
	Count func(outcome string)
}

// MaxRelayReply bounds a relayed reply: a page of 1,000 payments or a
// batch's 1,000 results is well below it.
const MaxRelayReply = 16 << 20

// Relay sends r (with body) to addr and copies the reply to w. It returns
// false, having written nothing, when rl.Moved closes before a reply
// arrives (the leader changed) and the parent request still stands. Once a
// reply has arrived, Moved no longer matters: the reply is copied whole.
func (c *Client) Relay(w http.ResponseWriter, r *http.Request, body []byte, addr string, rl Relay) bool {
	ctx, cancel := context.WithTimeout(r.Context(), rl.Timeout)
	defer cancel()
	var mu sync.Mutex
	replied, abandoned := false, false
	stop := make(chan struct{})
	defer close(stop)
	go func() {
		select {
		case <-rl.Moved:
			mu.Lock()
			if !replied {
				abandoned = true
				cancel()
			}
			mu.Unlock()
		case <-stop:
		}
	}()
	req, err := c.NewRequest(ctx, r.Method, addr, r.URL.RequestURI(), bytes.NewReader(body))
	if err != nil {
		api.WriteError(w, api.Errorf(api.CodeInternal, "build forward: %v", err))
		return true
	}
	req.Header.Set("Content-Type", "application/json")
	req.Header.Set(HeaderHops, strconv.Itoa(rl.Hops))
	resp, err := c.Do(req)
	mu.Lock()
	replied = true
	gaveUp := abandoned
	mu.Unlock()
	if gaveUp && r.Context().Err() == nil {
		if err == nil {
			resp.Body.Close()
		}
		return false
	}
	if err != nil {
		// A write that never reached the leader (the dial failed) was not
		// applied; any other failure leaves it in doubt.
		unsent := NotSent(err)
		if !rl.Write || unsent {
			rl.Forget()
		}
		rl.failed(w, addr, rl.Write && (!unsent || rl.InDoubt), fmt.Errorf("forward: %w", err))
		return true
	}
	defer resp.Body.Close()
	// The reply is read whole before anything is written, so that a reply
	// cut short reaches the client as an error it knows how to retry, not
	// as a success with a broken body.
	reply, err := io.ReadAll(io.LimitReader(resp.Body, MaxRelayReply+1))
	if err == nil && len(reply) > MaxRelayReply {
		err = fmt.Errorf("reply over %d bytes", MaxRelayReply)
	}
	if err != nil {
		rl.failed(w, addr, rl.Write, fmt.Errorf("reply cut short: %w", err))
		return true
	}
	if rl.Write && rl.InDoubt && resp.StatusCode >= 300 && !settlesKey(reply) {
		rl.failed(w, addr, true, fmt.Errorf("an earlier delivery was abandoned, and this one answered %d: %.200s", resp.StatusCode, reply))
		return true
	}
	rl.Count("ok")
	for _, h := range rl.Headers {
		if v := resp.Header.Get(h); v != "" {
			w.Header().Set(h, v)
		}
	}
	if v := resp.Header.Get(rl.LeaderHeader); v != "" {
		w.Header().Set(rl.LeaderHeader, v)
	} else {
		w.Header().Set(rl.LeaderHeader, addr)
	}
	w.WriteHeader(resp.StatusCode)
	_, _ = w.Write(reply)
	return true
}

// settlesKey reports whether an error reply is the key's own answer.
func settlesKey(reply []byte) bool {
	var eb api.ErrorBody
	return json.Unmarshal(reply, &eb) == nil && eb.Error != nil && eb.Error.Code.AnswersKey()
}

// failed answers a relayed request that got no whole reply from addr:
// unknown_outcome when the write may have been applied (inDoubt),
// unavailable otherwise; both are retried with the same key.
func (rl Relay) failed(w http.ResponseWriter, addr string, inDoubt bool, err error) {
	if inDoubt {
		rl.Count("unknown_outcome")
		api.WriteError(w, api.Errorf(api.CodeUnknownOutcome, "forwarded write to %s may or may not have been applied (%v); retry with the same key", addr, err))
		return
	}
	rl.Count("unavailable")
	api.WriteError(w, api.Errorf(api.CodeUnavailable, "forward to %s: %v; retry", addr, err))
}

// Stream passes a GET on to addr, with the hop count hops, and streams the
// reply back as it comes: a backup can be far larger than a relayed reply
// may be held in memory. It copies the reply's headers named in headers
// and sets leaderHeader to addr.
func (c *Client) Stream(w http.ResponseWriter, r *http.Request, addr string, hops int, headers []string, leaderHeader string) {
	req, err := c.NewRequest(r.Context(), http.MethodGet, addr, r.URL.RequestURI(), nil)
	if err != nil {
		api.WriteError(w, api.Errorf(api.CodeInternal, "build forward: %v", err))
		return
	}
	req.Header.Set(HeaderHops, strconv.Itoa(hops))
	resp, err := c.Do(req)
	if err != nil {
		api.WriteError(w, api.Errorf(api.CodeUnavailable, "forward to %s: %v; retry", addr, err))
		return
	}
	defer resp.Body.Close()
	for _, k := range headers {
		if v := resp.Header.Get(k); v != "" {
			w.Header().Set(k, v)
		}
	}
	w.Header().Set(leaderHeader, addr)
	w.WriteHeader(resp.StatusCode)
	_, _ = io.Copy(w, resp.Body)
}
