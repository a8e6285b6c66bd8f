package chatchannel

import (
	"context"
	"encoding/json"
	"errors"
	"sync"

	"github.com/pbxgate/pbxgate/gateway/store"
)

// Subscribers are a channel's subscriber records, one JSON value of the
// platform's shape S at Prefix+"sub/"+id.
type Subscribers[S any] struct {
	Store  *store.Store
	Prefix string // the channel's key prefix, "telegram/<name>/"
}

// Key is where id's record is.
func (s Subscribers[S]) Key(id string) string { return s.Prefix + "sub/" + id }

// Get returns id's record; false when there is none.
func (s Subscribers[S]) Get(id string) (S, bool, error) {
	var sub S
	err := s.Store.View(func(txn *store.Txn) error { return store.GetJSON(txn, s.Key(id), &sub) })
	if errors.Is(err, store.ErrNotFound) {
		return sub, false, nil
	}
	return sub, err == nil, err
}

// Edit reads id's record (the zero S and found false when there is none),
// lets change edit it and writes it back when change says so: an
// unchanged subscriber costs no write (and no fsync).
func (s Subscribers[S]) Edit(id string, change func(sub *S, found bool) (write bool)) error {
	key := s.Key(id)
	return s.Store.Update(func(txn *store.Txn) error {
		var sub S
		found := true
		if err := store.GetJSON(txn, key, &sub); err != nil {
			if !errors.Is(err, store.ErrNotFound) {
				return err
			}
			found = false
		}
		if !change(&sub, found) {
			return nil
		}
		return store.SetJSON(txn, key, sub)
	})
}

// List returns every record (unreadable ones are skipped).
func (s Subscribers[S]) List(context.Context) ([]S, error) {
	var out []S
	err := s.Store.View(func(txn *store.Txn) error {
		return store.EachFrom(txn, s.Prefix+"sub/", "", func(_ string, v []byte) error {
			var sub S
			if json.Unmarshal(v, &sub) == nil {
				out = append(out, sub)
			}
			return nil
		})
	})
	return out, err
}

// OptOutSlot holds where a channel records opt-outs; it is set after the
// channels are built (the consent store needs them), so it is guarded.
type OptOutSlot struct {
	mu sync.Mutex
	o  OptOuts
}

// Use sets the opt-out store.
func (s *OptOutSlot) Use(o OptOuts) {
	s.mu.Lock()
	s.o = o
	s.mu.Unlock()
}

// OptOut records an opt-out; without a store it does nothing.
func (s *OptOutSlot) OptOut(ctx context.Context, address, keyword, channel string) error {
	s.mu.Lock()
	o := s.o
	s.mu.Unlock()
	if o == nil {
		return nil
	}
	return o.OptOut(ctx, address, keyword, channel)
}
