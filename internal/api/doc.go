// Package api holds rzone's HTTP/JSON wire types, their validation, the
// stable error codes and the API's headers (headers.go). The server decodes
// and validates requests with it, the client library re-exports its types,
// so both sides share one definition. http.go holds the generic parts of
// the server's handlers: reading and checking a request's body and path
// parameters, writing a JSON reply, the methods a path takes (for 405) and
// the status-recording ResponseWriter of the metrics.
//
// api imports no other rzone package: every package may import it.
package api
