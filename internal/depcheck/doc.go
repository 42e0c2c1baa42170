// Package depcheck is a test helper: it fails a test when a package's
// dependencies (go list -deps) include one of rzone's packages it must not
// import. It is imported only by tests and must never import an rzone
// package itself.
package depcheck
