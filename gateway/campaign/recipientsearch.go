package campaign

import (
	"bytes"
	"context"
	"crypto/sha256"
	"encoding/hex"
	"encoding/json"
	"sort"
	"strings"

	"github.com/pbxgate/pbxgate/gateway/message"
	"github.com/pbxgate/pbxgate/gateway/store"
)

// RecipientSearch narrows a campaign's recipients: a state, a part of the
// number and a failure reason (by ReasonKey; it implies RFailed). Empty
// fields match everything.
type RecipientSearch struct {
	Status RecipientStatus
	Number string // a part of the number; spaces, dashes, slashes and dots are ignored
	Reason string // a ReasonKey
	Offset int
	Limit  int // 0: 100
}

// ReasonCount is one failure reason of a campaign's failed recipients
// with how many have it.
type ReasonCount struct {
	Key    string         `json:"key"`
	Reason string         `json:"reason"` // the English text
	Code   message.Reason `json:"code,omitzero"`
	Count  int            `json:"count"`
}

// ReasonKey is a short stable key of r's failure reason (its code with
// arguments, else its text): recipients showing the same reason share it.
func ReasonKey(r Recipient) string {
	var b []byte
	if r.ReasonCode.IsZero() {
		b = []byte("text:" + r.Reason)
	} else {
		j, _ := json.Marshal(r.ReasonCode)
		b = append([]byte("code:"), j...)
	}
	sum := sha256.Sum256(b)
	return hex.EncodeToString(sum[:6])
}

// NumberPart normalises a number search: without spaces, dashes,
// slashes, dots and brackets, as numbers are stored.
func NumberPart(s string) string {
	return strings.Map(func(r rune) rune {
		switch r {
		case ' ', '-', '/', '.', '(', ')', '\t':
			return -1
		}
		return r
	}, strings.TrimSpace(s))
}

// SearchRecipients returns a page of campaign id's recipients matching q,
// in list order.
func (e *Engine) SearchRecipients(ctx context.Context, id string, q RecipientSearch) (RecipientPage, error) {
	q.Number = NumberPart(q.Number)
	if q.Reason != "" {
		if q.Status != "" && q.Status != RFailed {
			return RecipientPage{}, nil
		}
		q.Status = RFailed
	}
	if q.Number == "" && q.Reason == "" {
		return e.Recipients(ctx, id, RecipientQuery{Status: q.Status, Offset: q.Offset, Limit: q.Limit})
	}
	if _, err := e.Get(ctx, id); err != nil {
		return RecipientPage{}, err
	}
	if q.Limit <= 0 {
		q.Limit = 100
	}
	// A record whose JSON lacks the number part (numbers are stored
	// verbatim) is skipped undecoded; one that has it, even elsewhere, is
	// decoded and checked.
	part := []byte(q.Number)
	var p RecipientPage
	err := e.st.View(func(txn *store.Txn) error {
		return store.Each(txn, recipKeyPrefix(id), func(_ string, v []byte) error {
			if !bytes.Contains(v, part) {
				return nil
			}
			var r Recipient
			if err := json.Unmarshal(v, &r); err != nil {
				return err
			}
			if (q.Status != "" && r.Status != q.Status) || !strings.Contains(r.Number, q.Number) ||
				(q.Reason != "" && ReasonKey(r) != q.Reason) {
				return nil
			}
			if p.Total >= q.Offset && len(p.Items) < q.Limit {
				p.Items = append(p.Items, r)
			}
			p.Total++
			return ctx.Err()
		})
	})
	return p, err
}

// FailureReasons groups campaign id's failed recipients by reason, the
// most frequent first (then by text).
func (e *Engine) FailureReasons(ctx context.Context, id string) ([]ReasonCount, error) {
	if _, err := e.Get(ctx, id); err != nil {
		return nil, err
	}
	byKey := map[string]*ReasonCount{}
	want := []byte(`"status":"` + string(RFailed) + `"`)
	err := e.st.View(func(txn *store.Txn) error {
		return store.Each(txn, recipKeyPrefix(id), func(_ string, v []byte) error {
			if !bytes.Contains(v, want) {
				return nil
			}
			var r Recipient
			if err := json.Unmarshal(v, &r); err != nil {
				return err
			}
			if r.Status != RFailed {
				return nil
			}
			k := ReasonKey(r)
			if rc := byKey[k]; rc != nil {
				rc.Count++
			} else {
				byKey[k] = &ReasonCount{Key: k, Reason: r.Reason, Code: r.ReasonCode, Count: 1}
			}
			return ctx.Err()
		})
	})
	if err != nil {
		return nil, err
	}
	out := make([]ReasonCount, 0, len(byKey))
	for _, rc := range byKey {
		out = append(out, *rc)
	}
	sort.Slice(out, func(i, j int) bool {
		if out[i].Count != out[j].Count {
			return out[i].Count > out[j].Count
		}
		return out[i].Reason < out[j].Reason
	})
	return out, nil
}
