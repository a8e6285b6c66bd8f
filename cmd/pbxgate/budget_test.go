package main

import (
	"log/slog"
	"runtime/debug"
	"testing"

	"github.com/pbxgate/pbxgate/gateway/config"
)

// TestMemoryLimitFromConfigUnlessGOMEMLIMIT: memory.limit becomes the Go
// runtime's soft limit; GOMEMLIMIT in the environment wins (the runtime
// read it at start), and 0 leaves the limit alone.
func TestMemoryLimitFromConfigUnlessGOMEMLIMIT(t *testing.T) {
	prev := debug.SetMemoryLimit(-1)
	defer debug.SetMemoryLimit(prev)
	log := slog.New(slog.DiscardHandler)

	if got := applyMemoryLimit(config.Memory{Limit: 100 * config.MiB}, nil, log); got != 100<<20 || debug.SetMemoryLimit(-1) != 100<<20 {
		t.Fatalf("limit %d, runtime %d; want 100 MiB", got, debug.SetMemoryLimit(-1))
	}
	debug.SetMemoryLimit(77 << 20) // as if GOMEMLIMIT=77MiB had been read
	if got := applyMemoryLimit(config.Memory{Limit: 100 * config.MiB}, []string{"GOMEMLIMIT=77MiB"}, log); got != 77<<20 || debug.SetMemoryLimit(-1) != 77<<20 {
		t.Fatalf("with GOMEMLIMIT: limit %d, runtime %d; want 77 MiB", got, debug.SetMemoryLimit(-1))
	}
	if got := applyMemoryLimit(config.Memory{}, nil, log); got != 77<<20 {
		t.Fatalf("memory.limit 0 changed the limit to %d", got)
	}
}
