package smspool

import (
	"context"
	"crypto/sha256"
	"encoding/hex"
	"encoding/json"
	"errors"
	"fmt"
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

// HandlePDU takes one SMS received on SIM simName: the TPDU as the modem
// gave it in PDU mode, without the SMSC address (see gsms.SplitSMSC). It
// returns nil once the SMS is stored — only then may the driver delete it
// from the SIM. Single messages are handed to the InboundSink; parts of a
// long message are kept until all have arrived (in any order, across
// restarts) or ReassemblyTimeout passes. Duplicates (the same PDU again)
// are dropped. A status report PDU is passed to HandleStatusReport.
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
	p.inMu.Lock()
	defer p.inMu.Unlock()
	now := p.cfg.Now()
	hash := pduHash(simName, tpdu)
	d, decErr := gsms.DecodeDeliver(tpdu)
	channel, receiver := p.receiver(simName)
	stored := false
	err := p.st.Update(func(txn *store.Txn) error {
		stored = false
		if seen, err := exists(txn, keyInSeen+hash); err != nil || seen {
			return err
		}
		if err := setTTL(txn, keyInSeen+hash, true, p.cfg.SeenTTL); err != nil {
			return err
		}
		stored = true
		in := message.Inbound{ID: "sms-" + hash, Kind: message.SMS, Channel: channel, Receiver: receiver, At: now}
		if decErr != nil {
			// Keep what cannot be read, so an admin can look at it, rather
			// than leave it on the SIM forever or drop it.
			in.Text = fmt.Sprintf("[pbxgate could not decode this SMS (%v); raw PDU %s]", decErr, strings.ToUpper(hex.EncodeToString(tpdu)))
			return p.addInbound(txn, in)
		}
		if d.Total <= 1 {
			in.From, in.Text, in.At = d.From, d.Text, d.SCTS
			return p.addInbound(txn, in)
		}
		return p.storePart(txn, inGroup{SIM: simName, From: d.From, Ref: d.Ref, Total: d.Total, FirstAt: now},
			d.Seq, inPart{TPDU: tpdu, Hash: hash, ReceivedAt: now}, channel, receiver)
	})
	if err != nil {
		return fmt.Errorf("store SMS received on SIM %s: %w", simName, err)
	}
	if stored {
		// The driver deletes the SMS from the SIM when this returns nil:
		// make sure it is on disk even when sync_writes is off.
		if err := p.st.Sync(); err != nil {
			return fmt.Errorf("store SMS received on SIM %s: %w", simName, err)
		}
		p.met.received.WithLabelValues(simName).Inc()
		p.kick(p.inWake)
	}
	if decErr != nil {
		p.log.Warn("received SMS cannot be decoded; stored with its raw PDU", "sim", simName, "err", decErr)
	}
	return nil
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

func (p *Pool) addInbound(txn *store.Txn, in message.Inbound) error {
	return store.SetJSON(txn, seqKey(keyInMsg, p.nextSeq()), in)
}

// storePart adds one part to its group and completes the message when it
// was the last one missing.
func (p *Pool) storePart(txn *store.Txn, g inGroup, seq int, pt inPart, channel, receiver string) error {
	gk := g.key()
	var old inGroup
	err := store.GetJSON(txn, keyInGroup+gk, &old)
	switch {
	case errors.Is(err, store.ErrNotFound):
		if err := store.SetJSON(txn, keyInGroup+gk, g); err != nil {
			return err
		}
	case err != nil:
		return err
	default:
		has, err := exists(txn, partKey(gk, seq))
		if err != nil {
			return err
		}
		if has {
			// A different PDU in a slot already filled: the sender reused
			// the reference for a new message before the old one was
			// complete. Deliver the old one as it is and start over.
			if err := p.flushGroup(txn, old, channel, receiver); err != nil {
				return err
			}
			if err := store.SetJSON(txn, keyInGroup+gk, g); err != nil {
				return err
			}
		}
	}
	if err := store.SetJSON(txn, partKey(gk, seq), pt); err != nil {
		return err
	}
	for i := 1; i <= g.Total; i++ {
		// Get each slot (not an iterator) so a concurrent writer of another
		// part conflicts with this transaction instead of both missing it.
		if has, err := exists(txn, partKey(gk, i)); err != nil || !has {
			return err
		}
	}
	return p.flushGroup(txn, g, channel, receiver)
}

// flushGroup turns the stored parts of g into one inbound message — with
// the missing parts marked when it is incomplete — and removes them.
func (p *Pool) flushGroup(txn *store.Txn, g inGroup, channel, receiver string) error {
	gk := g.key()
	var ds []gsms.Deliver
	var present []int
	var hashes []string
	for i := 1; i <= g.Total; i++ {
		var pt inPart
		err := store.GetJSON(txn, partKey(gk, i), &pt)
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
		if err := txn.Delete([]byte(partKey(gk, i))); err != nil {
			return err
		}
	}
	if err := txn.Delete([]byte(keyInGroup + gk)); err != nil {
		return err
	}
	if len(ds) == 0 {
		return nil
	}
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
	return p.addInbound(txn, in)
}

// runReassemblyTimer delivers long messages whose parts stopped arriving.
func (p *Pool) runReassemblyTimer(ctx context.Context) {
	t := time.NewTicker(p.cfg.Recheck)
	defer t.Stop()
	for {
		select {
		case <-ctx.Done():
			return
		case <-t.C:
			if err := p.expireGroups(); err != nil {
				p.log.Error("cannot finish incomplete long SMS; trying again", "err", err)
			}
		}
	}
}

func (p *Pool) expireGroups() error {
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
			}
			return nil
		})
	})
	if err != nil || len(due) == 0 {
		return err
	}
	for _, g := range due {
		channel, receiver := p.receiver(g.SIM)
		if err := p.st.Update(func(txn *store.Txn) error { return p.flushGroup(txn, g, channel, receiver) }); err != nil {
			return err
		}
	}
	p.kick(p.inWake)
	return nil
}
