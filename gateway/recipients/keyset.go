package recipients

import (
	"context"
	"fmt"
	"net/url"

	"github.com/pbxgate/pbxgate/gateway/store"
)

// Keys: "recipients/<kind>/<escaped name>" holds a list's metadata with its
// generation; "recipients/<kind>e/<escaped name>/<gen>/<item>" its items.
// An import writes a new generation, then flips the metadata in one
// transaction and deletes the old generation: a crash leaves either the old
// or the new list, never a mix.
const prefix = "recipients/"

func metaKey(kind, name string) string { return prefix + kind + "/" + url.PathEscape(name) }

func itemPrefix(kind, name string, gen uint64) string {
	return fmt.Sprintf("%s%se/%s/%d/", prefix, kind, url.PathEscape(name), gen)
}

// writeItems stores items under a generation (lists can be larger than one
// transaction).
func writeItems(st *store.Store, pfx string, items map[string][]byte) error {
	err := st.WriteBatch(func(b *store.Batch) error {
		for k, v := range items {
			if err := b.Set([]byte(pfx+k), v); err != nil {
				return err
			}
		}
		return nil
	})
	if err != nil {
		return fmt.Errorf("store list: %w", err)
	}
	return nil
}

// deletePrefix removes every key under pfx.
func deletePrefix(ctx context.Context, st *store.Store, pfx string) error {
	var keys [][]byte
	err := st.View(func(txn *store.Txn) error {
		return store.Each(txn, pfx, func(k string, _ []byte) error {
			keys = append(keys, []byte(k))
			return ctx.Err()
		})
	})
	if err != nil {
		return err
	}
	return st.WriteBatch(func(b *store.Batch) error {
		for _, k := range keys {
			if err := b.Delete(k); err != nil {
				return err
			}
		}
		return nil
	})
}
