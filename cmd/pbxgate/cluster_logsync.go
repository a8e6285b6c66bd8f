package main

import (
	"net/http"

	"github.com/pbxgate/pbxgate/gateway/logsync"
	"github.com/pbxgate/pbxgate/gateway/msglog"
	"github.com/pbxgate/pbxgate/gateway/session"
)

// The message log and the sessions replicated between the boxes of a
// cluster (gateway/logsync). A box without a cluster section has no
// logSync: its message log and sessions get no Replicator and write
// exactly what they wrote before.

// msglogReplicator is the message log's Replicator: nil on a box alone
// (an untyped nil, so the log sees none).
func (d *daemon) msglogReplicator() msglog.Replicator {
	if d.logSync == nil {
		return nil
	}
	return d.logSync
}

// sessionReplicator is the sessions' Replicator: nil on a box alone.
func (d *daemon) sessionReplicator() session.Replicator {
	if d.logSync == nil {
		return nil
	}
	return d.logSync
}

// attachLogSync gives the replication the message log other boxes'
// entries merge into, and runs it with the other components.
func (d *daemon) attachLogSync() {
	if d.logSync == nil {
		return
	}
	d.logSync.Attach(d.msglog)
	d.component("cluster-log-sync", d.logSync.Run)
}

// logSyncReply is GET /v1/cluster/log on the control socket: what this
// box has not sent yet, what it sent and applied, and digests of its
// message log and sessions to compare with the other boxes'.
type logSyncReply struct {
	Enabled bool            `json:"enabled"`
	Stats   *logsync.Stats  `json:"stats,omitempty"`
	Digest  *logsync.Digest `json:"digest,omitempty"`
}

func (d *daemon) logSyncRoutes(mux *http.ServeMux) {
	mux.HandleFunc("GET /v1/cluster/log", func(w http.ResponseWriter, r *http.Request) {
		if d.logSync == nil {
			writeControl(w, logSyncReply{}, nil)
			return
		}
		st, err := d.logSync.Stats()
		if err != nil {
			writeControl(w, nil, err)
			return
		}
		dg, err := logsync.DigestOf(d.store)
		writeControl(w, logSyncReply{Enabled: true, Stats: &st, Digest: &dg}, err)
	})
}
