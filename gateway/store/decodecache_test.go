package store

import (
	"errors"
	"maps"
	"testing"
)

type cached struct {
	N    int               `json:"n"`
	Vars map[string]string `json:"vars,omitempty"`
}

func cloneCached(c cached) cached {
	c.Vars = maps.Clone(c.Vars)
	return c
}

// The cache hands out what it holds only for the bytes it holds it for: a
// write it did not see, a transaction that did not commit or a delete
// makes it decode (or not find) what is stored; what it hands out is a
// copy; it holds at most size keys.
func TestDecodeCache(t *testing.T) {
	t.Parallel()
	st, err := Open(Options{Dir: t.TempDir()})
	if err != nil {
		t.Fatal(err)
	}
	defer st.Close()
	c := NewDecodeCache(2, cloneCached)
	get := func(key string) (cached, error) {
		var v cached
		err := st.View(func(txn *Txn) error { return c.Get(txn, key, &v) })
		return v, err
	}
	if err := st.Update(func(txn *Txn) error { return c.Set(txn, "k", &cached{N: 1, Vars: map[string]string{"a": "b"}}) }); err != nil {
		t.Fatal(err)
	}
	// A hit: the cached value, not a decode. Planted so the test can tell.
	c.put("k", c.m["k"].raw, cached{N: 99})
	if v, err := get("k"); err != nil || v.N != 99 {
		t.Fatalf("hit: %+v, %v (want the cached 99)", v, err)
	}
	// Written past the cache: decoded.
	if err := st.Update(func(txn *Txn) error { return SetJSONFast(txn, "k", cached{N: 2}) }); err != nil {
		t.Fatal(err)
	}
	if v, err := get("k"); err != nil || v.N != 2 {
		t.Fatalf("after a write the cache did not see: %+v, %v", v, err)
	}
	// Set in a transaction that did not commit: the stored value stays.
	errAbort := errors.New("abort")
	err = st.Update(func(txn *Txn) error {
		if err := c.Set(txn, "k", &cached{N: 3}); err != nil {
			return err
		}
		return errAbort
	})
	if !errors.Is(err, errAbort) {
		t.Fatal(err)
	}
	if v, err := get("k"); err != nil || v.N != 2 {
		t.Fatalf("after a Set that did not commit: %+v, %v (want 2)", v, err)
	}
	// Copies: changing what Get returned changes nothing cached.
	if err := st.Update(func(txn *Txn) error { return c.Set(txn, "k", &cached{N: 4, Vars: map[string]string{"a": "b"}}) }); err != nil {
		t.Fatal(err)
	}
	v, err := get("k")
	if err != nil || v.N != 4 {
		t.Fatalf("%+v, %v", v, err)
	}
	v.Vars["a"] = "changed"
	if v, _ := get("k"); v.Vars["a"] != "b" {
		t.Fatalf("the cache handed out its own map: %+v", v)
	}
	// Deleted: not found, whatever is cached.
	if err := st.Update(func(txn *Txn) error { return txn.Delete([]byte("k")) }); err != nil {
		t.Fatal(err)
	}
	if _, err := get("k"); !errors.Is(err, ErrNotFound) {
		t.Fatalf("deleted: %v", err)
	}
	// At most size keys.
	for _, k := range []string{"a", "b", "c"} {
		if err := st.Update(func(txn *Txn) error { return c.Set(txn, k, &cached{N: 5}) }); err != nil {
			t.Fatal(err)
		}
	}
	if n := c.Len(); n != 2 {
		t.Fatalf("%d keys held, want 2", n)
	}
	if v, err := get("a"); err != nil || v.N != 5 {
		t.Fatalf("evicted key read back: %+v, %v", v, err)
	}
}
