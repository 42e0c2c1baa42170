// Package service runs a node's background components: each a loop that
// runs from its start until it is stopped (Service), started in a fixed
// order and stopped in the reverse order, each with its own stop and wait
// (Set); and the ticker loop most of them are (Every).
//
// service imports no other rzone package.
package service
