package pbx

import (
	"strconv"

	"github.com/emiago/sipgo/sip"
)

// DiskHold tells whether the data disk is too full to take new messages,
// and why (gateway/diskguard.Guard implements it).
type DiskHold interface {
	Blocked() (reason string, blocked bool)
}

// diskRetryAfter is the Retry-After, in seconds, of a MESSAGE held because
// the disk is low: space comes back on a scale of minutes, not seconds.
const diskRetryAfter = 60

type diskHoldBox struct{ h DiskHold }

// HoldWhen makes the gateway answer extensions' MESSAGEs with 503 Service
// Unavailable and Retry-After (RFC 3261 §21.5.4; RFC 3428 §7: a MESSAGE
// not taken gets a final error answer) while h says the disk is too full,
// instead of accepting a reply that could not be stored: nothing of it is
// kept, the extension is told why, and the PBX or phone may send it again
// later. Messages are taken again as soon as h says space returned. nil
// turns the hold off.
func (g *Gateway) HoldWhen(h DiskHold) {
	if h == nil {
		g.diskHold.Store(nil)
		return
	}
	g.diskHold.Store(&diskHoldBox{h})
}

// diskHeld reports whether MESSAGEs are held now, and the answer's headers.
func (g *Gateway) diskHeld() (why string, hdrs []sip.Header, held bool) {
	b := g.diskHold.Load()
	if b == nil {
		return "", nil, false
	}
	reason, blocked := b.h.Blocked()
	if !blocked {
		return "", nil, false
	}
	g.m.busy.WithLabelValues("disk_low").Inc()
	why = "pbxgate's disk is almost full, the message was not sent; please send it again later (" + reason + ")"
	return why, []sip.Header{sip.NewHeader("Retry-After", strconv.Itoa(diskRetryAfter))}, true
}
