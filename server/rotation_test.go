package server

import (
	"context"
	"crypto/tls"
	"fmt"
	"sync"
	"sync/atomic"
	"testing"
	"time"

	"github.com/rzonedb/rzone/client"
	"github.com/rzonedb/rzone/internal/certs"
)

// servedSerial is the serial of the certificate node i's API presents to
// a new connection.
func servedSerial(t *testing.T, mc *multiCluster, i int) string {
	t.Helper()
	conf := caConfig(t, mc.cfgs[i].CertsDir)
	conn, err := tls.Dial("tcp", mc.apis[i], conf)
	if err != nil {
		t.Fatal(err)
	}
	defer conn.Close()
	return conn.ConnectionState().PeerCertificates[0].SerialNumber.String()
}

// TestCertRotationUnderLoad re-issues every node's certificate while
// clients pay through every node (forwarding between nodes included) and
// reloads it as SIGHUP does: no request fails, and new connections get
// the new certificate.
func TestCertRotationUnderLoad(t *testing.T) {
	mc, dir := setupSecure(t, []string{"A", "B"}, 2, nil)
	before := servedSerial(t, mc, 0)
	conf, err := client.LoadCA(dir + "/" + certs.CAFile)
	if err != nil {
		t.Fatal(err)
	}
	app := mc.createToken(0, "app").Token
	mc.waitToken(app)
	var failed, ok atomic.Int64
	var firstErr atomic.Value
	stop := make(chan struct{})
	var wg sync.WaitGroup
	for w := 0; w < 4; w++ {
		c, err := client.New([]string{mc.apis[w%len(mc.apis)]}, client.WithTLS(conf), client.WithToken(app), client.WithRouting(false),
			client.WithBackoff(20*time.Millisecond, 200*time.Millisecond), client.WithMaxRetries(30))
		if err != nil {
			t.Fatal(err)
		}
		user := uint64(1000 + w)
		if _, err := c.PutAccount(context.Background(), user, 1<<40); err != nil {
			t.Fatal(err)
		}
		wg.Add(1)
		go func() {
			defer wg.Done()
			for i := 0; ; i++ {
				select {
				case <-stop:
					return
				default:
				}
				_, err := c.Pay(context.Background(), user, client.PayRequest{Key: fmt.Sprintf("rot-%d-%d", user, i), Amount: 1, Merchant: "m"})
				if err != nil {
					failed.Add(1)
					firstErr.CompareAndSwap(nil, err.Error())
				} else {
					ok.Add(1)
				}
			}
		}()
	}
	time.Sleep(500 * time.Millisecond)
	if err := certs.CreateNode(dir, "node", []string{"127.0.0.1", "localhost"}); err != nil {
		t.Fatal(err)
	}
	for _, nd := range mc.nodes {
		if err := nd.ReloadCerts(); err != nil {
			t.Fatal(err)
		}
		nd.peer.CloseIdle() // new peer connections handshake with the new certificate
	}
	time.Sleep(time.Second)
	close(stop)
	wg.Wait()
	if failed.Load() != 0 {
		t.Fatalf("%d of %d payments failed during the rotation; first: %v", failed.Load(), failed.Load()+ok.Load(), firstErr.Load())
	}
	for i := range mc.nodes {
		if after := servedSerial(t, mc, i); after == before {
			t.Fatalf("node %d still serves the old certificate", i)
		}
	}
	t.Logf("%d payments, none failed", ok.Load())
}
