package main

import (
	"context"
	"fmt"
	"net"
	"net/http"
	"net/http/pprof"
	"time"
)

// envPprof names a loopback address (e.g. 127.0.0.1:6060) on which the
// daemon serves Go's profiles (/debug/pprof/…) for diagnosing memory and
// CPU; unset, nothing listens. Only loopback addresses are accepted: the
// profiles show internals and have no login.
const envPprof = "PBXGATE_PPROF"

func (d *daemon) startPprof(ctx context.Context) error {
	addr := ""
	for _, kv := range d.env.environ {
		if v, ok := cutEnv(kv, envPprof); ok {
			addr = v
		}
	}
	if addr == "" {
		return nil
	}
	host, _, err := net.SplitHostPort(addr)
	if ip := net.ParseIP(host); err != nil || ip == nil || !ip.IsLoopback() {
		return fmt.Errorf("%s=%q: use a loopback address such as 127.0.0.1:6060", envPprof, addr)
	}
	ln, err := net.Listen("tcp", addr)
	if err != nil {
		return fmt.Errorf("%s: %w", envPprof, err)
	}
	mux := http.NewServeMux()
	mux.HandleFunc("/debug/pprof/", pprof.Index)
	mux.HandleFunc("/debug/pprof/profile", pprof.Profile)
	srv := &http.Server{Handler: mux, ReadHeaderTimeout: 10 * time.Second}
	go func() { _ = srv.Serve(ln) }()
	go func() { <-ctx.Done(); srv.Close() }()
	d.log.Info("profiling endpoint", "url", "http://"+ln.Addr().String()+"/debug/pprof/")
	return nil
}

func cutEnv(kv, name string) (string, bool) {
	if len(kv) > len(name) && kv[:len(name)] == name && kv[len(name)] == '=' {
		return kv[len(name)+1:], true
	}
	return "", false
}
