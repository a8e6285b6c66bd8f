package main

import (
	"context"
	"fmt"
	"os"
	"path/filepath"
	"slices"
	"strings"

	"github.com/pbxgate/pbxgate/drivers/smspool"
	"github.com/pbxgate/pbxgate/gateway/message"
	"github.com/pbxgate/pbxgate/gateway/mms"
	"github.com/pbxgate/pbxgate/gateway/session"
)

// Chat replies with a file on SMS sessions (docs/mms.md): the session
// manager asks the session's SMS channel which SIM an MMS would leave
// through and its carrier limit (session.MediaChannel), fits and stores
// the file under data_dir/mms/replies, and the pool sends it as MMS.

// sessionMediaDir is where the files of chat replies are stored.
func sessionMediaDir(dataDir string) string { return filepath.Join(dataDir, "mms", "replies") }

// smsSessionSender sends a session's replies on an SMS channel of the
// pool; it is a session.MediaChannel when the daemon has MMS settings.
type smsSessionSender struct {
	name string
	pool *smspool.Pool
	mms  *mmsSide // nil: no MMS
}

func (s smsSessionSender) Send(ctx context.Context, m message.Outbound) error {
	m.Channel = s.name
	return s.pool.Enqueue(ctx, m)
}

// MMSRoute is session.MediaChannel: the session's own SIM when its modem
// can send MMS (its limit), else any capable SIM of the channel (the
// smallest limit among them).
func (s smsSessionSender) MMSRoute(ctx context.Context, sender string) (string, int, string, bool) {
	if s.mms == nil {
		return "", 0, "no SIM has MMS settings (modems.devices[].mms)", false
	}
	ch, err := s.pool.Channel(s.name)
	if err != nil {
		return "", 0, err.Error(), false
	}
	sup := ch.MMSSupport(ctx)
	if len(sup.SIMs) == 0 {
		names := make([]string, 0, len(sup.Refused))
		for n := range sup.Refused {
			names = append(names, n)
		}
		slices.Sort(names)
		why := make([]string, len(names))
		for i, n := range names {
			why[i] = n + ": " + sup.Refused[n]
		}
		return "", 0, strings.Join(why, "; "), false
	}
	sim := s.simOf(sender)
	if sim != "" && slices.Contains(sup.SIMs, sim) {
		if kb, ok := s.mms.limitKB(sim); ok {
			return sim, kb * 1024, "", true
		}
		return sim, sup.Limit, "", true
	}
	return "", sup.Limit, "", true
}

// simOf names the SIM behind a session's sender (a SIM name or number).
func (s smsSessionSender) simOf(sender string) string {
	if sender == "" || !strings.HasPrefix(sender, "+") {
		return sender
	}
	s.mms.mu.Lock()
	defer s.mms.mu.Unlock()
	for n, md := range s.mms.modems {
		if md.Number() == sender {
			return n
		}
	}
	return ""
}

// replyMedia serves the files of chat replies ("mmsout-…" ids, stored
// under data_dir/mms/replies; the session manager's MediaPath finds them)
// and hands other ids to next.
type replyMedia struct {
	path func(id string) (string, bool)
	next interface {
		MediaFile(ctx context.Context, id string) (string, string, error)
	}
}

func (r replyMedia) MediaFile(ctx context.Context, id string) (string, string, error) {
	if !strings.HasPrefix(id, session.MediaIDPrefix) {
		if r.next == nil {
			return "", "", fmt.Errorf("media %q: %w", id, os.ErrNotExist)
		}
		return r.next.MediaFile(ctx, id)
	}
	p, ok := r.path(id)
	if !ok {
		return "", "", fmt.Errorf("reply media %q: %w", id, os.ErrNotExist)
	}
	if _, err := os.Stat(p); err != nil {
		return "", "", err
	}
	return p, mms.DetectType(p, nil), nil
}
