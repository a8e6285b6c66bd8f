package msglog

import (
	"context"
	"errors"
	"fmt"

	"github.com/pbxgate/pbxgate/gateway/store"
)

// Replicator is told of every entry this box records or changes, inside
// the transaction that writes it: gateway/logsync keeps it in a durable
// outbox in that same transaction, so an entry and its way to the other
// boxes are stored together or not at all. It may set e.Box.
type Replicator interface {
	Replicate(txn *store.Txn, e *Entry) error
}

func (l *Log) replicate(txn *store.Txn, e *Entry) error {
	if l.repl == nil {
		return nil
	}
	if err := l.repl.Replicate(txn, e); err != nil {
		return fmt.Errorf("msglog: replicate %s: %w", e.ID, err)
	}
	return nil
}

// Supersedes reports whether entry b, from another box, replaces a, the
// entry with the same ID this box has. The merge is deterministic, so
// every box ends with the same entry whatever order the versions arrive
// in:
//   - an inbound entry never changes;
//   - a status that advances (message.Status.Rank) wins: delivered beats
//     sent whichever box wrote it later;
//   - at the same rank (read and failed are both final), the later
//     Updated wins, and at the same time the larger box name.
func Supersedes(a, b Entry) bool {
	if a.Status == Received && b.Status == Received {
		return laterWrite(a, b)
	}
	ra, rb := a.Status.Rank(), b.Status.Rank()
	if ra != rb {
		return rb > ra
	}
	return laterWrite(a, b)
}

func laterWrite(a, b Entry) bool {
	if !b.Updated.Equal(a.Updated) {
		return b.Updated.After(a.Updated)
	}
	return b.Box > a.Box
}

// MergeTxn applies entry e from another box in txn: it is added when this
// box has no entry with its ID, and replaces the one it has when it
// Supersedes it; otherwise nothing changes. It reports whether it wrote.
// The Replicator is not told (the entry came from the cluster). Of two
// entries recorded for one ID at different times the earlier Created is
// kept, so the entry sits at the same place in every box's log.
func (l *Log) MergeTxn(txn *store.Txn, e Entry) (bool, error) {
	if e.ID == "" {
		return false, errors.New("msglog: the message has no ID")
	}
	e.Created, e.Updated = e.Created.UTC(), e.Updated.UTC()
	key, cur, err := l.getTxn(txn, e.ID)
	switch {
	case errors.Is(err, ErrNotFound):
		if err := writeEntry(txn.Set, &e); err != nil {
			return false, fmt.Errorf("msglog: %w", err)
		}
		return true, nil
	case err != nil:
		return false, fmt.Errorf("msglog: %w", err)
	}
	if !Supersedes(cur, e) {
		return false, nil
	}
	if cur.Created.Before(e.Created) {
		e.Created = cur.Created
	}
	// The old entry goes with its index keys; the merged one is written
	// with its own (its status term may differ).
	if err := txn.Delete([]byte(key)); err != nil {
		return false, err
	}
	if err := setIndex(func(k, _ []byte) error { return txn.Delete(k) }, &cur); err != nil {
		return false, err
	}
	if err := writeEntry(txn.Set, &e); err != nil {
		return false, fmt.Errorf("msglog: %w", err)
	}
	return true, nil
}

// Merge is MergeTxn in a transaction of its own.
func (l *Log) Merge(_ context.Context, e Entry) (bool, error) {
	var wrote bool
	err := l.st.Update(func(txn *store.Txn) error {
		var err error
		wrote, err = l.MergeTxn(txn, e)
		return err
	})
	return wrote, err
}

// Each calls fn with every entry, oldest first, until fn returns an error
// (the cluster compares boxes' logs with it: gateway/logsync.Digest).
func (l *Log) Each(fn func(Entry) error) error {
	return l.st.View(func(txn *store.Txn) error {
		return EachTxn(txn, fn)
	})
}

// EachTxn is Each in txn.
func EachTxn(txn *store.Txn, fn func(Entry) error) error {
	it := txn.NewIterator(store.Prefix(prefixTime, false, false))
	defer it.Close()
	for it.Rewind(); it.Valid(); it.Next() {
		var e Entry
		if err := it.Item().Value(func(v []byte) error { return store.UnmarshalFast(v, &e) }); err != nil {
			return fmt.Errorf("msglog: %s: %w", it.Item().Key(), err)
		}
		if err := fn(e); err != nil {
			return err
		}
	}
	return nil
}
