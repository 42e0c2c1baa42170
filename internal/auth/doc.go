// Package auth is the pure part of rzone's API authentication: the format
// of a bearer token ("rzt_" + id + "_" + secret) and its making, parsing,
// hashing and constant-time comparison; the access levels a route may
// require and the token roles each allows; and the per-source limiter of
// failed authentications.
//
// What needs a running node stays in package server (auth.go): the table
// of every route with the access it requires, the middleware that checks a
// request against it, and the lookup of a token's hash in the meta group.
// This package must never import server, zone, client, backup or cmd
// packages (TestAuthImportsNoNodePackage); it knows the role names from
// package fsm, which keeps the tokens.
package auth
