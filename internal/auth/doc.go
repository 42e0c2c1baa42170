// Package auth is the pure part of rzone's API authentication: the format
// of a bearer token ("rzt_" + id + "_" + secret) and its making, parsing,
// hashing and constant-time comparison; the access levels a route may
// require and the token roles each allows; the per-source limiter of
// failed authentications; the role of a request's bearer token against
// the bootstrap token and a token store (Role), the making of a token's
// record and the reading of a bootstrap token file (record.go); and the
// check of a request against the access its route requires (Guard).
//
// What needs a running node stays in package server (auth.go): the table
// of every route with the access it requires, the wiring of a Guard to the
// node (its certificates, the meta group's tokens, its metrics), and the
// token endpoints.
// This package must never import server, zone, client, backup or cmd
// packages (TestAuthImportsNoNodePackage); it knows the role names from
// package fsm, which keeps the tokens, the API's types and errors from
// internal/api, and node certificates from internal/certs.
package auth
