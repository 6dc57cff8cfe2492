package main

import (
	"fmt"
	"runtime"
	"runtime/debug"
	"strings"
)

// version is set at build time with -ldflags "-X main.version=v1.2.3";
// without it, the module version from the build info is reported.
var version = "dev"

// versionString is what `gatehouse version` prints: the version, the VCS
// revision the binary was built from, and the Go toolchain and platform.
func versionString() string {
	info, _ := debug.ReadBuildInfo()
	return formatVersion(version, info)
}

// formatVersion formats the version of a binary built with ldVersion (the
// -X main.version value, "dev" when unset) and info (nil when the binary
// carries no build info): "gatehouse v1.2.3 (revision 0123456789ab,
// modified; go1.26.0 linux/amd64)". The module version (set by `go
// install module@version`) is used when no version was given at link
// time; "(devel)", a build from a checkout, is not a version.
func formatVersion(ldVersion string, info *debug.BuildInfo) string {
	v := ldVersion
	var details []string
	if info != nil {
		if mv := info.Main.Version; (v == "" || v == "dev") && mv != "" && mv != "(devel)" {
			v = mv
		}
		var rev, modified string
		for _, s := range info.Settings {
			switch s.Key {
			case "vcs.revision":
				rev = s.Value
			case "vcs.modified":
				modified = s.Value
			}
		}
		if rev != "" {
			if len(rev) > 12 {
				rev = rev[:12]
			}
			details = append(details, "revision "+rev)
			if modified == "true" {
				details[len(details)-1] += ", modified"
			}
		}
	}
	if v == "" {
		v = "dev"
	}
	details = append(details, fmt.Sprintf("%s %s/%s", runtime.Version(), runtime.GOOS, runtime.GOARCH))
	return fmt.Sprintf("gatehouse %s (%s)", v, strings.Join(details, "; "))
}
