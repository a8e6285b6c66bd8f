package smspool

import (
	"errors"
	"fmt"
	"net/url"
	"strconv"
	"time"

	"github.com/pbxgate/pbxgate/gateway/message"
	"github.com/pbxgate/pbxgate/gateway/store"
)

// Badger keys, all under "smsq/". Sequence numbers are zero-padded so key
// order is queue order.
//
//	smsq/msg/<id>                 record: one outbound message and its state
//	smsq/pending/<seq>            id: queued, waiting for a SIM
//	smsq/sending/<id>             SIM name: handed to a modem, result not stored yet
//	smsq/mr/<sim>/<mr>            mrRef: sent part awaiting its status report
//	smsq/sr/<sim>/<mr>            orphanReport: status report that beat the send result (TTL)
//	smsq/count/<sim>/<date>       int: parts sent that day (caps; a month is the sum of its days;
//	                              smsq/count/<sim>/<month> was its own counter before and is no longer read)
//	smsq/events/<seq>             message.StatusEvent not yet handed to the Sink
//	smsq/in/part/<group>/<seq>    inPart: one part of a concatenated inbound SMS
//	smsq/in/group/<group>         inGroup: when the first part of a message arrived
//	smsq/in/seen/<hash>           received PDU already stored (dedupe, TTL)
//	smsq/in/msg/<seq>             message.Inbound left by versions before gateway/inbox (moved there at start)
const (
	keyMsg      = "smsq/msg/"
	keyPending  = "smsq/pending/"
	keySending  = "smsq/sending/"
	keyMR       = "smsq/mr/"
	keyOrphanSR = "smsq/sr/"
	keyCount    = "smsq/count/"
	keyEvents   = "smsq/events/"
	keyInPart   = "smsq/in/part/"
	keyInGroup  = "smsq/in/group/"
	keyInSeen   = "smsq/in/seen/"
	keyInMsg    = "smsq/in/msg/"
)

func seqKey(prefix string, seq uint64) string { return fmt.Sprintf("%s%020d", prefix, seq) }

func parseSeqKey(prefix, key string) (uint64, error) {
	return strconv.ParseUint(key[len(prefix):], 10, 64)
}

func msgKey(id string) string     { return keyMsg + url.PathEscape(id) }
func sendingKey(id string) string { return keySending + url.PathEscape(id) }
func mrKey(sim string, mr int) string {
	return fmt.Sprintf("%s%s/%03d", keyMR, url.PathEscape(sim), mr)
}
func orphanKey(sim string, mr int) string {
	return fmt.Sprintf("%s%s/%03d", keyOrphanSR, url.PathEscape(sim), mr)
}
func countKey(sim, period string) string { return keyCount + url.PathEscape(sim) + "/" + period }

// record is one outbound message with everything the pool knows about it.
type record struct {
	Msg    message.Outbound `json:"msg"`
	Seq    uint64           `json:"seq"` // queue position, kept across failovers
	Status message.Status   `json:"status"`
	SIM    string           `json:"sim,omitempty"`    // SIM it was last handed to
	Sender string           `json:"sender,omitempty"` // that SIM's number, when known
	// Attempts counts hand-overs to a modem; Tried lists SIMs that failed
	// it with a retryable error so the next attempt prefers another one.
	Attempts  int       `json:"attempts,omitempty"`
	Tried     []string  `json:"tried,omitempty"`
	NotBefore time.Time `json:"not_before,omitzero"`
	Parts     []part    `json:"parts,omitempty"`
	Reason    string    `json:"reason,omitempty"`
	// ReasonCode is Reason for translation (zero in records from before).
	ReasonCode message.Reason `json:"reason_code,omitzero"`
	Code       string         `json:"code,omitempty"`
	Retryable  bool           `json:"retryable,omitempty"`
	QueuedAt   time.Time      `json:"queued_at"`
	UpdatedAt  time.Time      `json:"updated_at"`
}

// part is one SMS of a sent message, tracked for its status report.
type part struct {
	MR     int    `json:"mr"`
	Status string `json:"status,omitempty"` // "", sms.Delivered or sms.Failed
}

// mrRef points a sent part's message reference back to its message.
type mrRef struct {
	ID   string `json:"id"`
	Part int    `json:"part"` // index into record.Parts
	To   string `json:"to"`
}

// orphanReport is a status report that arrived before the pool stored the
// send result of its message (the network can be faster than the modem's
// reply to the last part of a long message).
type orphanReport struct {
	Report     StatusReport `json:"report"`
	ReceivedAt time.Time    `json:"received_at"`
}

// Message is the state of one outbound message, as Status returns it.
type Message struct {
	message.Outbound
	Status    message.Status `json:"status"`
	SIM       string         `json:"sim,omitempty"`
	Attempts  int            `json:"attempts,omitempty"`
	Parts     int            `json:"parts,omitempty"`
	Delivered int            `json:"delivered_parts,omitempty"`
	Reason    string         `json:"reason,omitempty"`
	// ReasonCode is Reason for translation; zero when there is none.
	ReasonCode message.Reason `json:"reason_code,omitzero"`
	Code       string         `json:"code,omitempty"`
	QueuedAt   time.Time      `json:"queued_at"`
	UpdatedAt  time.Time      `json:"updated_at"`
}

func getRecord(txn *store.Txn, id string) (record, error) {
	var r record
	err := store.GetJSONFast(txn, msgKey(id), &r)
	return r, err
}

// setRecord stores r. Once the pool is done with a message (sent, or
// final) the record expires after Config.Retention: the store of an
// appliance must not grow for ever, and an ID is not reused that late.
func (p *Pool) setRecord(txn *store.Txn, r *record) error {
	if r.Status == message.Queued || r.Status == message.Sending {
		return store.SetJSONFast(txn, msgKey(r.Msg.ID), r)
	}
	return setTTL(txn, msgKey(r.Msg.ID), r, p.cfg.Retention)
}

func getInt(txn *store.Txn, key string) (int, error) {
	var n int
	err := store.GetJSONFast(txn, key, &n)
	if errors.Is(err, store.ErrNotFound) {
		return 0, nil
	}
	return n, err
}

// setTTL writes v under key so Badger forgets it after ttl.
func setTTL(txn *store.Txn, key string, v any, ttl time.Duration) error {
	return store.SetJSONTTLFast(txn, key, v, ttl)
}

func exists(txn *store.Txn, key string) (bool, error) {
	_, err := txn.Get([]byte(key))
	if errors.Is(err, store.ErrNotFound) {
		return false, nil
	}
	return err == nil, err
}
