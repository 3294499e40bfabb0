// Package defaults holds the values the daemon and its clients must agree
// on without depending on each other: the daemon's server package does not
// import the public client package, nor the client the daemon.
package defaults

// Socket is where mypolld listens unless told otherwise and where its
// clients connect by default (PROTOCOL.md A.1).
const Socket = "/run/mypoll/mypoll.sock"
