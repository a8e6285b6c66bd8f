// Command gate stands in for a pbxgate release in the update tests: it opens
// the real store, migrates it to its schema, counts its starts and serves
// /healthz, like the daemon. Built with -ldflags "-X main.version=…
// -X main.schema=N -X main.healthy=no"; an unhealthy build migrates the
// store and then fails, the worst case an update can meet.
package main

import (
	"context"
	"encoding/json"
	"errors"
	"flag"
	"fmt"
	"net/http"
	"os"
	"os/signal"
	"strconv"
	"syscall"

	"github.com/pbxgate/pbxgate/gateway/store"
)

var (
	version = "v0.0.0"
	schema  = "1"
	healthy = "yes"
)

func main() {
	data := flag.String("data", "", "data directory")
	listen := flag.String("listen", "", "address for /healthz")
	flag.Parse()
	if err := run(*data, *listen); err != nil {
		fmt.Fprintln(os.Stderr, "gate:", err)
		os.Exit(1)
	}
}

func run(data, listen string) error {
	ctx, stop := signal.NotifyContext(context.Background(), syscall.SIGTERM, os.Interrupt)
	defer stop()
	s, err := store.Open(store.Options{Dir: data, SyncWrites: true})
	if err != nil {
		return err
	}
	defer s.Close()
	n, _ := strconv.Atoi(schema)
	var ms []store.Migration
	for v := 1; v <= n; v++ {
		ms = append(ms, store.Migration{Version: v, Name: "v" + strconv.Itoa(v)})
	}
	if err := s.Migrate(ms, nil); err != nil {
		return err
	}
	if healthy != "yes" {
		return fmt.Errorf("%s is broken on purpose", version)
	}
	var starts []string
	err = s.Update(func(txn *store.Txn) error {
		if err := store.GetJSON(txn, "test/starts", &starts); err != nil && !errors.Is(err, store.ErrNotFound) {
			return err
		}
		starts = append(starts, version)
		return store.SetJSON(txn, "test/starts", starts)
	})
	if err != nil {
		return err
	}
	srv := &http.Server{Addr: listen, Handler: http.HandlerFunc(func(w http.ResponseWriter, r *http.Request) {
		json.NewEncoder(w).Encode(map[string]any{"status": "ok", "version": version, "starts": starts})
	})}
	go func() {
		<-ctx.Done()
		srv.Close()
	}()
	if err := srv.ListenAndServe(); err != http.ErrServerClosed {
		return err
	}
	return nil
}
