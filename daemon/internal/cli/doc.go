// Package cli is the command-line plumbing the daemon's commands (mypolld,
// mypoll-bridge) share: a flag set that prints the command's man-page
// usage for --help, usage errors with exit status 2 and a hint, the
// --log-level, --log-json and --version flags, and the root hclog logger
// they configure (STYLE.md §4).
//
// It must not know any command's own flags, defaults or what the commands
// do, and it must not exit the process: callers return its exit codes from
// their run function.
package cli
