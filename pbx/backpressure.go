package pbx

import (
	"strconv"
	"sync"
	"time"

	"github.com/emiago/sipgo/sip"
)

// Back-pressure towards the PBX. An extension's MESSAGE is answered
// within answerWithin: 202 Accepted once the reply is stored for sending
// (RFC 3428 §7: a UAS that accepts a MESSAGE for relay beyond SIP answers
// 202), or 503 Service Unavailable with Retry-After (RFC 3261 §21.5.4)
// when pbxgate cannot take it now — nothing of it was stored then, so the
// PBX or phone may send it again.
const (
	// answerWithin bounds the answer to an extension's MESSAGE.
	answerWithin = time.Second
	// giveUpAfter is when pbxgate stops waiting for the reply to be stored
	// and answers 503 (unless the store write already began: then it
	// waits for it, a few milliseconds).
	giveUpAfter = 800 * time.Millisecond
	// retryAfter is the Retry-After of a 503, in seconds.
	retryAfter = 1
	// maxReplies bounds the replies being stored at once; more get 503 at
	// once instead of waiting in line.
	maxReplies = 256
)

// A retransmitted MESSAGE must never become a second message. sipgo's
// transaction layer absorbs retransmissions while its server transaction
// lives (matched by the Via branch, RFC 3261 §17.2.3); txTable also
// catches those that arrive as a new transaction (another branch from a
// proxy, or after the transaction ended), matched end to end by Call-ID,
// CSeq and From tag (RFC 3261 §8.2.2.2, RFC 3428 §7), and answers them
// with the first one's final response.
const (
	// txTTL: a UAC retransmits a non-INVITE request for at most Timer F
	// = 64·T1 = 32 s (RFC 3261 §17.1.2.2); kept a little longer.
	txTTL = 40 * time.Second
	// txMax bounds the table: 40 s at 2,500 MESSAGE/s. Beyond it the
	// oldest are forgotten first.
	txMax = 100_000
)

type txTable struct {
	mu   sync.Mutex
	m    map[string]*txResult
	fifo []txRef
	head int
}

type txRef struct {
	key string
	at  time.Time
}

// txResult is the final response given to a transaction.
type txResult struct {
	done   chan struct{} // closed once code is set
	code   int
	reason string
	hdrs   []sip.Header
}

func newTxTable() *txTable { return &txTable{m: map[string]*txResult{}} }

// txKey identifies a MESSAGE end to end; "" when it lacks the headers.
func txKey(req *sip.Request) string {
	cid, cseq, from := req.CallID(), req.CSeq(), req.From()
	if cid == nil || cseq == nil || from == nil {
		return ""
	}
	tag, _ := from.Params.Get("tag")
	return cid.Value() + "\x00" + strconv.FormatUint(uint64(cseq.SeqNo), 10) + " " + string(cseq.MethodName) + "\x00" + tag
}

// begin returns the transaction's result and whether this is its first
// arrival (the caller must finish it).
func (t *txTable) begin(key string, now time.Time) (*txResult, bool) {
	t.mu.Lock()
	defer t.mu.Unlock()
	// Forget the expired, and the oldest when full (answered long ago:
	// an answer takes at most a second).
	for t.head < len(t.fifo) && (now.Sub(t.fifo[t.head].at) > txTTL || len(t.m) >= txMax) {
		delete(t.m, t.fifo[t.head].key)
		t.fifo[t.head] = txRef{}
		t.head++
	}
	if t.head > 1024 && t.head*2 > len(t.fifo) {
		t.fifo = append(t.fifo[:0], t.fifo[t.head:]...)
		t.head = 0
	}
	if r, ok := t.m[key]; ok {
		return r, false
	}
	r := &txResult{done: make(chan struct{})}
	t.m[key] = r
	t.fifo = append(t.fifo, txRef{key: key, at: now})
	return r, true
}

func (r *txResult) finish(code int, reason string, hdrs ...sip.Header) {
	r.code, r.reason, r.hdrs = code, reason, hdrs
	close(r.done)
}

func (r *txResult) response(req *sip.Request) *sip.Response {
	res := sip.NewResponseFromRequest(req, r.code, r.reason, nil)
	for _, h := range r.hdrs {
		res.AppendHeader(h)
	}
	return res
}
