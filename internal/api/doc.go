// Package api holds rzone's HTTP/JSON wire types, their validation and the
// stable error codes. The server decodes and validates requests with it, the
// client library re-exports its types, so both sides share one definition.
//
// api imports no other rzone package: every package may import it.
package api
