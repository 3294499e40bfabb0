// Package logx wraps the daemons' hclog.Logger: Limit turns a flood of one
// warning or error into its first line and then a periodic count, and
// Redact hides the password of every URL in a log line. Both wrap any
// hclog.Logger and return one, so the code that logs is unchanged.
//
// It must not know the programs that use it, their protocols, sockets or
// files: it sees only log messages and their arguments.
package logx
