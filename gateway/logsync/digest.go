package logsync

import (
	"crypto/sha256"
	"encoding/hex"
	"encoding/json"
	"hash"

	"github.com/pbxgate/pbxgate/gateway/msglog"
	"github.com/pbxgate/pbxgate/gateway/session"
	"github.com/pbxgate/pbxgate/gateway/store"
)

// Digest summarises what a box's store holds of the replicated data, so
// boxes can be compared: after the cluster has settled every box has the
// same digests (the tests wait for that; the control socket's
// GET /v1/cluster/log shows it).
type Digest struct {
	Messages int `json:"messages"`
	Sessions int `json:"sessions"`
	Entries  int `json:"entries"`
	// MessagesByBox and SessionsByBox count by the box that wrote them
	// ("" before the box joined a cluster).
	MessagesByBox map[string]int `json:"messages_by_box"`
	SessionsByBox map[string]int `json:"sessions_by_box"`
	// MessageHash and SessionHash are SHA-256 over every message-log
	// entry, and every session with its chat log, in key order.
	MessageHash string `json:"message_hash"`
	SessionHash string `json:"session_hash"`
}

// DigestOf reads st. Each record is hashed as it decodes (the JSON of its
// fields), so how the bytes were written does not matter.
func DigestOf(st *store.Store) (Digest, error) {
	d := Digest{MessagesByBox: map[string]int{}, SessionsByBox: map[string]int{}}
	err := st.View(func(txn *store.Txn) error {
		mh, sh := sha256.New(), sha256.New()
		if err := msglog.EachTxn(txn, func(e msglog.Entry) error {
			d.Messages++
			d.MessagesByBox[e.Box]++
			return hashJSON(mh, e)
		}); err != nil {
			return err
		}
		if err := session.EachStored(txn, func(s session.Session, log []session.Entry) error {
			d.Sessions++
			d.SessionsByBox[s.Box]++
			d.Entries += len(log)
			if err := hashJSON(sh, s); err != nil {
				return err
			}
			for _, e := range log {
				if err := hashJSON(sh, e); err != nil {
					return err
				}
			}
			return nil
		}); err != nil {
			return err
		}
		d.MessageHash, d.SessionHash = hex.EncodeToString(mh.Sum(nil)), hex.EncodeToString(sh.Sum(nil))
		return nil
	})
	return d, err
}

func hashJSON(h hash.Hash, v any) error {
	b, err := json.Marshal(v)
	if err != nil {
		return err
	}
	_, _ = h.Write(b)
	_, _ = h.Write([]byte{'\n'})
	return nil
}

// Same reports whether two boxes hold the same message log and sessions.
func (d Digest) Same(o Digest) bool {
	return d.Messages == o.Messages && d.Sessions == o.Sessions && d.Entries == o.Entries &&
		d.MessageHash == o.MessageHash && d.SessionHash == o.SessionHash
}
