// Package version holds the build version, set at link time with
// -ldflags "-X github.com/mypoll/mypoll/daemon/internal/version.Version=...".
// It must not know anything else.
package version

// Version is the release or git description of this build.
var Version = "dev"
