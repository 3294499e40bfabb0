// Package version holds the build version, set at link time with
// -ldflags "-X github.com/mypoll/mypoll/daemon/internal/version.Version=...".
// It must not know anything else.
package version
