package webhooks

import "runtime/debug"

// version is set at build time: -ldflags "-X github.com/empfio/webhooks.version=v1.2.3"
// (the Makefile and Dockerfile do).
var version string

// Version is the version of this build, reported in the User-Agent of every
// delivery: the one set at build time, else the module version or VCS revision
// Go recorded, else "dev".
func Version() string {
	if version != "" {
		return version
	}
	info, ok := debug.ReadBuildInfo()
	if !ok {
		return "dev"
	}
	if v := info.Main.Version; v != "" && v != "(devel)" {
		return v
	}
	for _, s := range info.Settings {
		if s.Key == "vcs.revision" && len(s.Value) >= 12 {
			return s.Value[:12]
		}
	}
	return "dev"
}
