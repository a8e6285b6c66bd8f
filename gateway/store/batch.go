package store

import (
	"errors"
	"fmt"

	"github.com/dgraph-io/badger/v4"
)

// Batch writes more keys than one transaction holds (a contact list's
// import): it commits a transaction whenever the next write would make it
// too big and goes on in a new one. The writes are therefore not atomic as
// a whole; callers make them so (e.g. a new generation, flipped in one
// Update afterwards).
type Batch struct {
	s       *Store
	txn     *Txn
	commits int // transactions committed so far
}

// Set stores val under key.
func (b *Batch) Set(key, val []byte) error {
	return b.do(func(t *Txn) error { return t.Set(key, val) })
}

// Delete removes key.
func (b *Batch) Delete(key []byte) error {
	return b.do(func(t *Txn) error { return t.Delete(key) })
}

func (b *Batch) do(op func(*Txn) error) error {
	err := op(b.txn)
	if !errors.Is(err, badger.ErrTxnTooBig) {
		return err
	}
	if err := b.commit(); err != nil {
		return err
	}
	b.txn = b.s.db.NewTransaction(true)
	return op(b.txn)
}

// commit commits the current transaction like every other commit of the
// store: under commitMu's read lock, so a group sync never runs while it is
// half-way into the logs (Badger's own WriteBatch commits in the
// background, outside that lock, which is why the store does not use it).
func (b *Batch) commit() error {
	b.s.commitMu.RLock()
	defer b.s.commitMu.RUnlock()
	b.commits++
	b.s.commits.Add(1)
	return b.txn.Commit()
}

// WriteBatch runs fn with a Batch and commits what it wrote. With a Guard
// it first asks whether the disk has room; with SyncWrites it returns once
// everything is on disk (one group sync for the whole batch).
func (s *Store) WriteBatch(fn func(b *Batch) error) error {
	if err := s.CanWrite(); err != nil {
		return err
	}
	if s.db.IsClosed() {
		return badger.ErrDBClosed
	}
	b := &Batch{s: s, txn: s.db.NewTransaction(true)}
	defer func() { b.txn.Discard() }()
	if err := fn(b); err != nil {
		return err
	}
	if err := b.commit(); err != nil {
		return fmt.Errorf("write batch: %w", err)
	}
	return s.durable()
}
