// Package buildinfo says which build of rzone is running: its version, the
// VCS revision it was built from and the Go version, read from the build
// information the Go toolchain embeds in every binary.
//
// buildinfo imports no other rzone package.
package buildinfo

import (
	"runtime"
	"runtime/debug"
)

// Version may be set at link time (-ldflags "-X
// github.com/rzonedb/rzone/internal/buildinfo.Version=v1.2.3"); when empty
// the main module's version from the build information is used.
var Version string

// Revision may be set at link time the same way, for a build without the
// VCS data (an image built from a context without .git); when empty the
// revision the Go toolchain stamped from the VCS is used.
var Revision string

// Info is the build of the running binary.
type Info struct {
	Version  string `json:"version"`
	Revision string `json:"revision"`
	Go       string `json:"go"`
}

// Get returns the build of the running binary. Fields the build did not
// record are "unknown" (version "(devel)" for a build from a work tree);
// a revision built from a modified tree ends in "-dirty".
func Get() Info {
	info := Info{Version: Version, Revision: "unknown", Go: runtime.Version()}
	bi, ok := debug.ReadBuildInfo()
	if ok {
		if info.Version == "" {
			info.Version = bi.Main.Version
		}
		dirty := false
		for _, s := range bi.Settings {
			switch s.Key {
			case "vcs.revision":
				info.Revision = s.Value
			case "vcs.modified":
				dirty = s.Value == "true"
			}
		}
		if dirty && info.Revision != "unknown" {
			info.Revision += "-dirty"
		}
	}
	if Revision != "" {
		info.Revision = Revision
	}
	if info.Version == "" {
		info.Version = "unknown"
	}
	return info
}
