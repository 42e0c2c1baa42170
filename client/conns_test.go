package client

import (
	"context"
	"errors"
	"net"
	"net/http"
	"net/http/httptest"
	"sync"
	"sync/atomic"
	"testing"
	"time"
)

// TestConnectionsAreCappedAndKept: more concurrent callers than the
// connection cap share the cap's connections, wave after wave: the client
// opens at most the cap, so no request pays for a connection opened and
// closed around it (with the idle limit below the cap, each wave would
// close the extra connections and the next would dial them again).
func TestConnectionsAreCappedAndKept(t *testing.T) {
	var opened atomic.Int64
	srv := httptest.NewUnstartedServer(http.HandlerFunc(func(w http.ResponseWriter, r *http.Request) {
		time.Sleep(5 * time.Millisecond)
		w.Header().Set("Content-Type", "application/json")
		w.Write([]byte(`{"user":1,"limit":100}`))
	}))
	srv.Config.ConnState = func(_ net.Conn, s http.ConnState) {
		if s == http.StateNew {
			opened.Add(1)
		}
	}
	srv.Start()
	defer srv.Close()

	const conns, callers, waves = 4, 32, 3
	c, err := New([]string{srv.Listener.Addr().String()}, WithRouting(false), WithMaxConnsPerNode(conns))
	if err != nil {
		t.Fatal(err)
	}
	for w := 0; w < waves; w++ {
		var wg sync.WaitGroup
		errs := make(chan error, callers)
		for i := 0; i < callers; i++ {
			wg.Add(1)
			go func() {
				defer wg.Done()
				if _, err := c.GetAccount(context.Background(), 1); err != nil {
					errs <- err
				}
			}()
		}
		wg.Wait()
		close(errs)
		for err := range errs {
			t.Fatalf("wave %d: %v", w, err)
		}
	}
	if n := opened.Load(); n > conns {
		t.Fatalf("%d callers in %d waves opened %d connections; the cap is %d", callers, waves, n, conns)
	}

	// The default keeps as many idle connections as it may open.
	d, err := New([]string{"127.0.0.1:1"})
	if err != nil {
		t.Fatal(err)
	}
	tr := d.hc.Transport.(*http.Transport)
	if tr.MaxConnsPerHost != DefaultConnsPerNode || tr.MaxIdleConnsPerHost != DefaultConnsPerNode {
		t.Fatalf("default transport: %d connections, %d idle; want %d of each", tr.MaxConnsPerHost, tr.MaxIdleConnsPerHost, DefaultConnsPerNode)
	}
}

// TestWriteThatGotNoConnectionIsNotUnknown: a write that waited for a free
// connection until its timeout was never sent, so it fails as unavailable
// (not applied), not as an unknown outcome; a write that was sent and got
// no reply in time stays unknown.
func TestWriteThatGotNoConnectionIsNotUnknown(t *testing.T) {
	release := make(chan struct{})
	srv := httptest.NewServer(http.HandlerFunc(func(w http.ResponseWriter, r *http.Request) {
		<-release
		w.Header().Set("Content-Type", "application/json")
		w.Write([]byte(`{}`))
	}))
	defer srv.Close()
	defer close(release)

	c, err := New([]string{srv.Listener.Addr().String()}, WithRouting(false), WithMaxConnsPerNode(1),
		WithMaxRetries(0), WithTimeout(time.Second))
	if err != nil {
		t.Fatal(err)
	}
	held := make(chan error, 1)
	go func() {
		_, err := c.Pay(context.Background(), 1, PayRequest{Key: "held", Amount: 1, Merchant: "m"})
		held <- err
	}()
	time.Sleep(100 * time.Millisecond) // the first write holds the one connection
	ctx, cancel := context.WithTimeout(context.Background(), 300*time.Millisecond)
	defer cancel()
	_, err = c.Pay(ctx, 1, PayRequest{Key: "queued", Amount: 1, Merchant: "m"})
	if !errors.Is(err, ErrUnavailable) || errors.Is(err, ErrUnknownOutcome) {
		t.Fatalf("a write that got no connection: %v; want unavailable (not sent)", err)
	}
	if err := <-held; !errors.Is(err, ErrUnknownOutcome) {
		t.Fatalf("a write sent and not answered in time: %v; want an unknown outcome", err)
	}
}
