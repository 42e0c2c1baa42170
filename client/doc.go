// Package client is the Go library for rzone.
//
// Create a client with the API addresses of one or more nodes of a zone; any
// node serves any request, and the client remembers which node leads and
// sends requests there:
//
//	c, err := client.New([]string{"127.0.0.1:7070", "127.0.0.1:7071"})
//	if err != nil { ... }
//	_, err = c.PutAccount(ctx, 42, 500_00) // a credit line of 500.00
//	p, err := c.Pay(ctx, 42, client.PayRequest{Key: "order-1001", Amount: 19_99, Merchant: "books"})
//
// Every write carries an idempotency key (the account's credit limit is
// idempotent by nature), so the client retries writes that failed with an
// unknown outcome, a timeout or an unreachable node, always with the same key:
// the server returns the original result to a retry. Business refusals are
// never retried. Errors can be told apart with errors.Is:
//
//	switch {
//	case errors.Is(err, client.ErrInsufficientCredit): // declined; the key stays declined
//	case errors.Is(err, client.ErrIdempotencyConflict): // key reused with other parameters
//	case client.IsRetryable(err): // still unknown after the retries: retry later, same key
//	}
//
// A program paying from many goroutines at once can let their payments
// share requests (client.WithCoalescing): each call still gets its own
// answer, as if sent alone, and the node settles many in one log entry.
//
// Reads are linearizable unless client.Stale() is passed, which lets any node
// answer from its replica. Amounts are int64 minor units (cents).
//
// client imports only internal/api (constants of the wire format), never
// server, zone, fsm or scheduler: a program that embeds the client links no
// node.
package client
