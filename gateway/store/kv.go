package store

import (
	"encoding/json"
	"errors"
	"fmt"
	"io"
	"time"

	badger "github.com/dgraph-io/badger/v4"
)

// The helpers here are the store's key-value API for the other packages:
// with them (and the Txn, Item and IteratorOptions aliases) no package but
// this one imports Badger, which the architecture test in gateway/archtest
// enforces.

// Item is one key and its value inside a transaction.
type Item = badger.Item

// IteratorOptions configure Txn.NewIterator; build them with Prefix.
type IteratorOptions = badger.IteratorOptions

// Iterator walks keys in a transaction (Txn.NewIterator); close it before
// the transaction ends.
type Iterator = badger.Iterator

// ErrConflict: a read-write transaction lost a race (Update retries it).
var ErrConflict = badger.ErrConflict

// ErrClosed: the store was closed (the daemon is shutting down).
var ErrClosed = badger.ErrDBClosed

// ErrTxnTooBig: one transaction wrote more than the store's memtable
// holds (about 10,000 campaign recipients with Profile Small); split the
// work into several transactions.
var ErrTxnTooBig = badger.ErrTxnTooBig

// Prefix returns iterator options over the keys under prefix: values are
// not prefetched when keysOnly, and keys come in descending order when
// reverse (seek to prefix+"~" or a key above the range first).
func Prefix(prefix string, keysOnly, reverse bool) IteratorOptions {
	o := badger.DefaultIteratorOptions
	o.Prefix = []byte(prefix)
	o.PrefetchValues = !keysOnly
	o.Reverse = reverse
	return o
}

// Exists reports whether key has a value.
func Exists(txn *Txn, key string) (bool, error) {
	_, err := txn.Get([]byte(key))
	if errors.Is(err, ErrNotFound) {
		return false, nil
	}
	return err == nil, err
}

// SetTTL writes val under key; the store forgets it after ttl.
func SetTTL(txn *Txn, key string, val []byte, ttl time.Duration) error {
	return txn.SetEntry(badger.NewEntry([]byte(key), val).WithTTL(ttl))
}

// SetJSONTTL writes v as JSON under key; the store forgets it after ttl.
func SetJSONTTL(txn *Txn, key string, v any, ttl time.Duration) error {
	b, err := json.Marshal(v)
	if err != nil {
		return fmt.Errorf("encode %s: %w", key, err)
	}
	return SetTTL(txn, key, b, ttl)
}

// EachFrom is Each starting at the first key >= start (a key under
// prefix), so a reader that remembers where it stopped need not step over
// the deleted keys before it.
func EachFrom(txn *Txn, prefix, start string, fn func(key string, val []byte) error) error {
	it := txn.NewIterator(Prefix(prefix, false, false))
	defer it.Close()
	if start < prefix {
		start = prefix
	}
	for it.Seek([]byte(start)); it.Valid(); it.Next() {
		item := it.Item()
		err := item.Value(func(b []byte) error { return fn(string(item.Key()), b) })
		if errors.Is(err, io.EOF) {
			return nil
		}
		if err != nil {
			return err
		}
	}
	return nil
}

// Last returns the greatest key under prefix, or "" when there is none.
func Last(txn *Txn, prefix string) string {
	it := txn.NewIterator(Prefix(prefix, true, true))
	defer it.Close()
	// 0xff sorts after every key under prefix.
	it.Seek(append([]byte(prefix), 0xff))
	if !it.Valid() {
		return ""
	}
	return string(it.Item().KeyCopy(nil))
}
