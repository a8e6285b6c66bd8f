package main

import (
	"context"
	"fmt"
	"runtime"
	"runtime/debug"
)

// Stamped at build time by the Makefile:
// -ldflags "-X main.version=… -X main.commit=… -X main.buildDate=…".
var (
	version   = "dev"
	commit    = ""
	buildDate = ""
)

// buildInfo describes this binary.
type buildInfo struct {
	Version   string `json:"version"`
	Commit    string `json:"commit"`
	BuildDate string `json:"build_date"`
	GoVersion string `json:"go_version"`
	Platform  string `json:"platform"`
}

func currentBuild() buildInfo {
	b := buildInfo{Version: version, Commit: commit, BuildDate: buildDate,
		GoVersion: runtime.Version(), Platform: runtime.GOOS + "/" + runtime.GOARCH}
	if info, ok := debug.ReadBuildInfo(); ok {
		for _, s := range info.Settings {
			switch {
			case s.Key == "vcs.revision" && b.Commit == "":
				b.Commit = s.Value
			case s.Key == "vcs.time" && b.BuildDate == "":
				b.BuildDate = s.Value
			}
		}
	}
	if b.Commit == "" {
		b.Commit = "unknown"
	}
	if b.BuildDate == "" {
		b.BuildDate = "unknown"
	}
	if runtime.GOARCH == "arm" {
		if info, ok := debug.ReadBuildInfo(); ok {
			for _, s := range info.Settings {
				if s.Key == "GOARM" {
					b.Platform += "/v" + s.Value
				}
			}
		}
	}
	return b
}

func cmdVersion(_ context.Context, env *cliEnv, args []string) error {
	fs := newFlags(env, "version", "version")
	if err := parseFlags(env, fs, args); err != nil {
		return err
	}
	b := currentBuild()
	fmt.Fprintf(env.stdout, "pbxgate %s\ncommit:     %s\nbuilt:      %s\ngo:         %s\nplatform:   %s\n",
		b.Version, b.Commit, b.BuildDate, b.GoVersion, b.Platform)
	return nil
}
