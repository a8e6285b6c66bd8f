package recipients

import (
	"context"
	"encoding/json"
	"errors"
	"fmt"
	"io"
	"sort"
	"strings"
	"time"

	"github.com/pbxgate/pbxgate/gateway/store"
)

// ErrNoList: no do-not-contact list or phonebook with that name.
var ErrNoList = errors.New("no such list")

// DefaultDNCLimit bounds one do-not-contact list.
const DefaultDNCLimit = 100_000

// Blocker is the global blacklist (opt-outs, numbers blocked by rules),
// consulted at send time. The automation work implements it.
type Blocker interface {
	Blocked(ctx context.Context, number string) (reason string, blocked bool)
}

// DNCList describes a stored do-not-contact list.
type DNCList struct {
	Name       string    `json:"name"`
	Numbers    int       `json:"numbers"`
	Invalid    int       `json:"invalid"`    // rows rejected at import
	Duplicates int       `json:"duplicates"` // removed at import
	ImportedAt time.Time `json:"imported_at"`
	Gen        uint64    `json:"gen"`
}

// Lists stores named do-not-contact lists in Badger.
type Lists struct {
	st *store.Store
}

// NewLists returns the do-not-contact lists kept in st.
func NewLists(st *store.Store) *Lists { return &Lists{st: st} }

// Import reads a do-not-contact CSV (any number of phone columns, as in the
// seeds' DNC_Home,DNC_Cell,DNC_Work example; other columns are ignored) and
// stores it as list name, replacing a list of the same name. A file with no
// valid number is refused. o.Limit defaults to DefaultDNCLimit.
func (l *Lists) Import(ctx context.Context, name string, r io.Reader, o CSVOptions) (DNCList, Result, error) {
	name = strings.TrimSpace(name)
	if name == "" {
		return DNCList{}, Result{}, errors.New("a do-not-contact list needs a name")
	}
	if o.Limit == 0 {
		o.Limit = DefaultDNCLimit
	}
	res, err := ImportCSV(r, o)
	if err != nil {
		return DNCList{}, res, fmt.Errorf("do-not-contact list %q: %w", name, err)
	}
	if len(res.Valid) == 0 {
		return DNCList{}, res, fmt.Errorf("do-not-contact list %q: %w (%d rows rejected)", name, ErrNoValidNumber, len(res.Invalid))
	}
	items := make(map[string][]byte, len(res.Valid))
	for _, rc := range res.Valid {
		items[rc.Number] = nil
	}
	meta := DNCList{Name: name, Numbers: len(res.Valid), Invalid: len(res.Invalid), Duplicates: len(res.Duplicates), ImportedAt: time.Now().UTC()}
	if err := l.replace(ctx, meta, items); err != nil {
		return DNCList{}, res, err
	}
	return meta, res, nil
}

func (l *Lists) replace(ctx context.Context, meta DNCList, items map[string][]byte) error {
	old, err := l.Get(ctx, meta.Name)
	oldGen := uint64(0)
	if err == nil {
		oldGen = old.Gen
	} else if !errors.Is(err, ErrNoList) {
		return err
	}
	meta.Gen = oldGen + 1
	if err := writeItems(l.st, itemPrefix("dnc", meta.Name, meta.Gen), items); err != nil {
		return err
	}
	if err := l.st.Update(func(txn *store.Txn) error { return store.SetJSON(txn, metaKey("dnc", meta.Name), meta) }); err != nil {
		return fmt.Errorf("store do-not-contact list %q: %w", meta.Name, err)
	}
	if oldGen > 0 {
		return deletePrefix(ctx, l.st, itemPrefix("dnc", meta.Name, oldGen))
	}
	return nil
}

// Get returns the metadata of list name.
func (l *Lists) Get(_ context.Context, name string) (DNCList, error) {
	return getMeta[DNCList](l.st, "dnc", "do-not-contact list", name)
}

// All returns every list, by name.
func (l *Lists) All(ctx context.Context) ([]DNCList, error) {
	return allMeta(ctx, l.st, "dnc", func(m DNCList) string { return m.Name })
}

// Delete removes list name.
func (l *Lists) Delete(ctx context.Context, name string) error {
	m, err := l.Get(ctx, name)
	if err != nil {
		return err
	}
	return deleteList(ctx, l.st, "dnc", name, m.Gen)
}

// The metadata of named lists (do-not-contact lists, phonebooks) is stored
// under metaKey(kind, name), their entries under itemPrefix(kind, name, gen).

func getMeta[T any](st *store.Store, kind, what, name string) (T, error) {
	var m T
	err := st.View(func(txn *store.Txn) error { return store.GetJSON(txn, metaKey(kind, name), &m) })
	if errors.Is(err, store.ErrNotFound) {
		return m, fmt.Errorf("%w: %s %q", ErrNoList, what, name)
	}
	return m, err
}

func allMeta[T any](ctx context.Context, st *store.Store, kind string, name func(T) string) ([]T, error) {
	var out []T
	err := st.View(func(txn *store.Txn) error {
		return store.Each(txn, prefix+kind+"/", func(_ string, v []byte) error {
			var m T
			if err := json.Unmarshal(v, &m); err != nil {
				return err
			}
			out = append(out, m)
			return ctx.Err()
		})
	})
	sort.Slice(out, func(i, j int) bool { return name(out[i]) < name(out[j]) })
	return out, err
}

func deleteList(ctx context.Context, st *store.Store, kind, name string, gen uint64) error {
	if err := st.Update(func(txn *store.Txn) error { return txn.Delete([]byte(metaKey(kind, name))) }); err != nil {
		return err
	}
	return deletePrefix(ctx, st, itemPrefix(kind, name, gen))
}

// Exists reports whether list name is stored (campaign validation).
func (l *Lists) Exists(ctx context.Context, name string) bool {
	_, err := l.Get(ctx, name)
	return err == nil
}

// Match returns the first of lists that holds number (E.164).
func (l *Lists) Match(ctx context.Context, lists []string, number string) (string, bool, error) {
	var hit string
	err := l.st.View(func(txn *store.Txn) error {
		for _, name := range lists {
			var m DNCList
			if err := store.GetJSON(txn, metaKey("dnc", name), &m); err != nil {
				if errors.Is(err, store.ErrNotFound) {
					return fmt.Errorf("%w: do-not-contact list %q (deleted after the campaign was created?)", ErrNoList, name)
				}
				return err
			}
			_, err := txn.Get([]byte(itemPrefix("dnc", name, m.Gen) + number))
			if err == nil {
				hit = name
				return nil
			}
			if !errors.Is(err, store.ErrNotFound) {
				return err
			}
		}
		return ctx.Err()
	})
	return hit, hit != "", err
}
