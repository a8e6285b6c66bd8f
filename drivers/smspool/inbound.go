package smspool

import (
	"context"
	"crypto/sha256"
	"encoding/hex"
	"encoding/json"
	"errors"
	"fmt"
	"io"
	"net/url"
	"strings"
	"time"

	"github.com/pbxgate/pbxgate/gateway/message"
	gsms "github.com/pbxgate/pbxgate/gateway/sms"
	"github.com/pbxgate/pbxgate/gateway/store"
)

// inPart is one stored part of a concatenated inbound SMS. The raw TPDU is
// kept (not the decoded text) so the whole message is decoded at once: a
// sender may split an escape sequence or a surrogate pair across parts.
type inPart struct {
	TPDU       []byte    `json:"tpdu"`
	Hash       string    `json:"hash"`
	ReceivedAt time.Time `json:"received_at"`
}

// inGroup tracks one concatenated message being reassembled.
type inGroup struct {
	SIM     string    `json:"sim"`
	From    string    `json:"from"`
	Ref     int       `json:"ref"`
	Total   int       `json:"total"`
	FirstAt time.Time `json:"first_at"` // pool clock, for the reassembly timeout
}

func (g inGroup) key() string {
	return fmt.Sprintf("%s/%s/%d/%d", url.PathEscape(g.SIM), url.PathEscape(g.From), g.Ref, g.Total)
}

func partKey(group string, seq int) string { return fmt.Sprintf("%s%s/%03d", keyInPart, group, seq) }

func pduHash(simName string, tpdu []byte) string {
	h := sha256.New()
	h.Write([]byte(simName))
	h.Write([]byte{0})
	h.Write(tpdu)
	return hex.EncodeToString(h.Sum(nil)[:16])
}

// Inbox stores complete inbound messages before the modem may delete them
// from the SIM (gateway/inbox): Accept returns nil once the message is on
// disk, and drops one it has already (same channel and ID).
type Inbox interface {
	Accept(ctx context.Context, in message.Inbound) error
}

var errNoInbox = errors.New("no inbox configured; the SMS stays on the SIM")

// HandlePDU takes one SMS received on SIM simName: the TPDU as the modem
// gave it in PDU mode, without the SMSC address (see gsms.SplitSMSC). It
// returns nil once the SMS is stored — only then may the driver delete it
// from the SIM. Single messages go to the Inbox at once; parts of a long
// message are kept until all have arrived (in any order, across restarts)
// or ReassemblyTimeout passes, and the reassembled message goes to the
// Inbox. Duplicates (the same PDU again) are dropped. A status report PDU
// is passed to HandleStatusReport.
func (p *Pool) HandlePDU(ctx context.Context, simName string, tpdu []byte) error {
	if err := ctx.Err(); err != nil {
		return err
	}
	if gsms.IsStatusReport(tpdu) {
		sr, err := gsms.DecodeStatusReport(tpdu)
		if err != nil {
			p.log.Warn("undecodable status report dropped", "sim", simName, "err", err, "pdu", hex.EncodeToString(tpdu))
			return nil
		}
		return p.HandleStatusReport(ctx, simName, sr)
	}
	if p.cfg.Inbox == nil {
		return errNoInbox
	}
	p.inMu.Lock()
	defer p.inMu.Unlock()
	now := p.cfg.Now()
	hash := pduHash(simName, tpdu)
	var seen bool
	if err := p.st.View(func(txn *store.Txn) error {
		var err error
		seen, err = store.Exists(txn, keyInSeen+hash)
		return err
	}); err != nil {
		return fmt.Errorf("store SMS received on SIM %s: %w", simName, err)
	}
	if seen {
		return nil
	}
	d, decErr := gsms.DecodeDeliver(tpdu)
	channel, receiver := p.receiver(simName)
	in := message.Inbound{ID: "sms-" + hash, Kind: message.SMS, Channel: channel, Receiver: receiver, At: now}
	var err error
	switch {
	case decErr != nil:
		// Keep what cannot be read, so an admin can look at it, rather
		// than leave it on the SIM forever or drop it.
		p.log.Warn("received SMS cannot be decoded; stored with its raw PDU", "sim", simName, "err", decErr)
		in.Text = fmt.Sprintf("[pbxgate could not decode this SMS (%v); raw PDU %s]", decErr, strings.ToUpper(hex.EncodeToString(tpdu)))
		err = p.acceptSingle(ctx, in, hash)
	case d.Total <= 1:
		in.From, in.Text, in.At = d.From, d.Text, d.SCTS
		err = p.acceptSingle(ctx, in, hash)
	default:
		err = p.handlePart(ctx, inGroup{SIM: simName, From: d.From, Ref: d.Ref, Total: d.Total, FirstAt: now},
			d.Seq, inPart{TPDU: tpdu, Hash: hash, ReceivedAt: now}, channel, receiver)
	}
	if err != nil {
		return fmt.Errorf("store SMS received on SIM %s: %w", simName, err)
	}
	p.met.received.WithLabelValues(simName).Inc()
	return nil
}

// acceptSingle hands a one-part SMS to the Inbox and then remembers its
// PDU. A crash in between offers it again, which the Inbox drops as a
// duplicate.
func (p *Pool) acceptSingle(ctx context.Context, in message.Inbound, hash string) error {
	if err := p.cfg.Inbox.Accept(ctx, in); err != nil {
		return err
	}
	return p.st.Update(func(txn *store.Txn) error { return store.SetTTL(txn, keyInSeen+hash, nil, p.cfg.SeenTTL) })
}

// handlePart stores one part of a long SMS (with its PDU's seen mark, in one
// transaction, synced: the modem deletes it from the SIM next) and hands
// the message to the Inbox when it was the last one missing.
func (p *Pool) handlePart(ctx context.Context, g inGroup, seq int, pt inPart, channel, receiver string) error {
	gk := g.key()
	// A different PDU in a slot already filled: the sender reused the
	// reference for a new message before the old one was complete.
	// Deliver the old one as it is and start over.
	var old inGroup
	reused := false
	err := p.st.View(func(txn *store.Txn) error {
		err := store.GetJSONFast(txn, keyInGroup+gk, &old)
		if errors.Is(err, store.ErrNotFound) {
			return nil
		}
		if err != nil {
			return err
		}
		reused, err = store.Exists(txn, partKey(gk, seq))
		return err
	})
	if err != nil {
		return err
	}
	if reused {
		if err := p.flushGroup(ctx, old, channel, receiver); err != nil {
			return err
		}
	}
	complete := false
	err = p.st.Update(func(txn *store.Txn) error {
		complete = false
		if err := store.SetTTL(txn, keyInSeen+pt.Hash, nil, p.cfg.SeenTTL); err != nil {
			return err
		}
		if has, err := store.Exists(txn, keyInGroup+gk); err != nil {
			return err
		} else if !has {
			if err := store.SetJSONFast(txn, keyInGroup+gk, g); err != nil {
				return err
			}
		}
		if err := store.SetJSONFast(txn, partKey(gk, seq), pt); err != nil {
			return err
		}
		var err error
		complete, err = groupComplete(txn, g)
		return err
	})
	if err != nil {
		return err
	}
	// The driver deletes the part from the SIM when this returns nil:
	// make sure it is on disk even when sync_writes is off.
	if err := p.st.Sync(); err != nil {
		return err
	}
	if complete {
		return p.flushGroup(ctx, g, channel, receiver)
	}
	return nil
}

// groupComplete reports whether every part of g is stored. Each slot is
// read (not iterated) so a concurrent writer of another part conflicts with
// the transaction instead of both missing it.
func groupComplete(txn *store.Txn, g inGroup) (bool, error) {
	gk := g.key()
	for i := 1; i <= g.Total; i++ {
		if has, err := store.Exists(txn, partKey(gk, i)); err != nil || !has {
			return false, err
		}
	}
	return true, nil
}

// receiver names the channel and the receiving number of SIM simName for
// inbound messages.
func (p *Pool) receiver(simName string) (channel, receiver string) {
	channel, receiver = simName, simName
	p.mu.Lock()
	var m Modem
	if s := p.sims[simName]; s != nil {
		if len(s.channels) > 0 {
			channel = s.channels[0].name
		}
		m = s.modem
	}
	p.mu.Unlock()
	// Asked outside p.mu: the driver takes its own lock.
	if n := numberOf(m); n != "" {
		receiver = n
	}
	return channel, receiver
}

// flushGroup turns the stored parts of g into one inbound message — with
// the missing parts marked when it is incomplete —, hands it to the Inbox
// and then removes the parts. Its ID depends only on the parts, so a crash
// before the removal makes the next flush offer the same message again,
// which the Inbox drops as a duplicate.
func (p *Pool) flushGroup(ctx context.Context, g inGroup, channel, receiver string) error {
	gk := g.key()
	var ds []gsms.Deliver
	var present []int
	var hashes []string
	err := p.st.View(func(txn *store.Txn) error {
		for i := 1; i <= g.Total; i++ {
			var pt inPart
			err := store.GetJSONFast(txn, partKey(gk, i), &pt)
			if errors.Is(err, store.ErrNotFound) {
				continue
			}
			if err != nil {
				return err
			}
			d, err := gsms.DecodeDeliver(pt.TPDU)
			if err != nil {
				return fmt.Errorf("stored part %d of %s: %w", i, gk, err)
			}
			ds = append(ds, d)
			present = append(present, i)
			hashes = append(hashes, pt.Hash)
		}
		return nil
	})
	if err != nil {
		return err
	}
	if len(ds) > 0 {
		in := message.Inbound{
			ID: "sms-" + pduHash(g.SIM, []byte(gk+"|"+strings.Join(hashes, ","))), Kind: message.SMS,
			Channel: channel, Receiver: receiver, From: g.From, At: ds[0].SCTS,
		}
		if text, err := gsms.Join(ds); err == nil {
			in.Text = text
		} else {
			var b strings.Builder
			next := 0
			for i := 1; i <= g.Total; i++ {
				if next < len(present) && present[next] == i {
					b.WriteString(ds[next].Text)
					next++
					continue
				}
				fmt.Fprintf(&b, "[part %d of %d missing]", i, g.Total)
			}
			in.Text = b.String()
			if len(ds) < g.Total {
				p.log.Warn("long SMS delivered incomplete: parts did not arrive in time",
					"sim", g.SIM, "parts", len(ds), "of", g.Total)
			}
		}
		if err := p.cfg.Inbox.Accept(ctx, in); err != nil {
			return err
		}
	}
	return p.st.Update(func(txn *store.Txn) error {
		for _, i := range present {
			if err := txn.Delete([]byte(partKey(gk, i))); err != nil {
				return err
			}
		}
		return txn.Delete([]byte(keyInGroup + gk))
	})
}

// runReassemblyTimer delivers long messages whose parts stopped arriving,
// and complete ones a crash left behind before they reached the Inbox.
func (p *Pool) runReassemblyTimer(ctx context.Context) {
	t := time.NewTicker(p.cfg.Recheck)
	defer t.Stop()
	for {
		if err := p.expireGroups(ctx); err != nil && ctx.Err() == nil {
			p.log.Error("cannot finish incomplete long SMS; trying again", "err", err)
		}
		select {
		case <-ctx.Done():
			return
		case <-t.C:
		}
	}
}

func (p *Pool) expireGroups(ctx context.Context) error {
	if p.cfg.Inbox == nil {
		return nil
	}
	p.inMu.Lock()
	defer p.inMu.Unlock()
	now := p.cfg.Now()
	var due []inGroup
	err := p.st.View(func(txn *store.Txn) error {
		return store.Each(txn, keyInGroup, func(_ string, v []byte) error {
			var g inGroup
			if err := json.Unmarshal(v, &g); err != nil {
				return err
			}
			if now.Sub(g.FirstAt) >= p.cfg.ReassemblyTimeout {
				due = append(due, g)
				return nil
			}
			if complete, err := groupComplete(txn, g); err != nil || complete {
				if complete {
					due = append(due, g)
				}
				return err
			}
			return nil
		})
	})
	if err != nil || len(due) == 0 {
		return err
	}
	for _, g := range due {
		channel, receiver := p.receiver(g.SIM)
		if err := p.flushGroup(ctx, g, channel, receiver); err != nil {
			return err
		}
	}
	return nil
}

// migrateOutbox hands the inbound messages an older pbxgate left in the
// pool's own outbox (smsq/in/msg/, before gateway/inbox) to the Inbox, in
// order, and deletes them.
func (p *Pool) migrateOutbox(ctx context.Context) error {
	if p.cfg.Inbox == nil {
		return nil
	}
	type entry struct {
		key string
		in  message.Inbound
	}
	for {
		var batch []entry
		err := p.st.View(func(txn *store.Txn) error {
			return store.Each(txn, keyInMsg, func(k string, v []byte) error {
				e := entry{key: k}
				if err := json.Unmarshal(v, &e.in); err != nil {
					p.log.Error("damaged inbound SMS record of an older version dropped", "key", k, "err", err)
				}
				batch = append(batch, e)
				if len(batch) == 128 {
					return io.EOF
				}
				return nil
			})
		})
		if err != nil || len(batch) == 0 {
			return err
		}
		for _, e := range batch {
			if e.in.ID != "" {
				if err := p.cfg.Inbox.Accept(ctx, e.in); err != nil {
					return err
				}
			}
			if err := p.st.Update(func(txn *store.Txn) error { return txn.Delete([]byte(e.key)) }); err != nil {
				return err
			}
		}
		p.log.Info("inbound SMS of an older version moved to the inbox", "count", len(batch))
	}
}
