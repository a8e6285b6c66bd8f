package store

import (
	"encoding/json"
	"math/rand"
	"reflect"
	"strings"
	"testing"
	"time"
)

type fjInner struct {
	MR     int    `json:"mr"`
	Status string `json:"status,omitempty"`
}

type fjEmbedded struct {
	Ref string `json:"ref,omitempty"`
}

type fjZero struct{ A int }

func (z fjZero) IsZero() bool { return z.A == 0 }

type fjRecord struct {
	fjEmbedded
	ID        string            `json:"id"`
	Text      string            `json:"text,omitempty"`
	Seq       uint64            `json:"seq"`
	Attempts  int               `json:"attempts,omitempty"`
	Tried     []string          `json:"tried,omitempty"`
	Nil       []string          `json:"nil"`
	Vars      map[string]string `json:"vars,omitempty"`
	Parts     []fjInner         `json:"parts,omitempty"`
	Ptr       *fjInner          `json:"ptr,omitempty"`
	When      time.Time         `json:"when"`
	NotBefore time.Time         `json:"not_before,omitzero"`
	Reason    fjZero            `json:"reason,omitzero"`
	OK        bool              `json:"ok,omitempty"`
	F         float64           `json:"f"`
	Class     uint8             `json:"class,omitempty"`
	Any       any               `json:"any,omitempty"`
}

// Texts that encoding/json treats specially: HTML characters (escaped as
// \u003c…), U+2028/U+2029, control characters, invalid UTF-8 (replaced
// by U+FFFD), and non-ASCII text as SMS carry it.
var fjTexts = []string{"", "plain", "<a href=\"x\">&</a>", "line\u2028sep\u2029", "tab\tnl\ncr\r\x00\x1f",
	"bad \xff\xfe utf8", "Grüße 😀 ĳ €", `back\slash "quote"`}

func fjSample(rng *rand.Rand) fjRecord {
	pick := func() string { return fjTexts[rng.Intn(len(fjTexts))] }
	r := fjRecord{ID: pick(), Text: pick(), Seq: rng.Uint64(), Attempts: rng.Intn(3), F: rng.Float64() * 1e6,
		When: time.Unix(rng.Int63n(4e9), rng.Int63n(1e9)).UTC(), Class: uint8(rng.Intn(2))}
	r.Ref = pick()
	if rng.Intn(2) == 0 {
		r.Tried = []string{pick(), pick()}
		r.Vars = map[string]string{pick(): pick(), "n": pick()}
		r.Parts = []fjInner{{MR: rng.Intn(256), Status: pick()}}
		r.Ptr = &fjInner{MR: 7}
		r.NotBefore = time.Date(2026, 12, 7, 3, 0, 0, 0, time.FixedZone("CET", 3600))
		r.Reason = fjZero{A: 3}
		r.OK = true
		r.Any = map[string]any{"k": []any{1.5, "x", nil, true}}
	}
	return r
}

// MarshalFast writes the bytes encoding/json writes, and each codec reads
// what the other wrote into the same value: data stored before keeps
// loading, and older readers (Status, exports) read what the SMS path
// writes now.
func TestFastJSONSameAsEncodingJSON(t *testing.T) {
	rng := rand.New(rand.NewSource(1))
	for i := range 2000 {
		r := fjSample(rng)
		want, err := json.Marshal(&r)
		if err != nil {
			t.Fatal(err)
		}
		got, err := MarshalFast(&r)
		if err != nil {
			t.Fatal(err)
		}
		var a, b, c fjRecord
		if err := json.Unmarshal(got, &a); err != nil {
			t.Fatal(err)
		}
		if err := json.Unmarshal(want, &c); err != nil {
			t.Fatal(err)
		}
		// Byte for byte, except that encoding/json writes the U+FFFD
		// replacing invalid UTF-8 as \ufffd and MarshalFast as the
		// character itself: the same string either way.
		if string(got) != string(want) && (!strings.Contains(string(want), `\ufffd`) || !reflect.DeepEqual(a, c)) {
			t.Fatalf("sample %d:\nencoding/json %s\nMarshalFast   %s", i, want, got)
		}
		if err := UnmarshalFast(want, &b); err != nil {
			t.Fatalf("sample %d: %v", i, err)
		}
		if !reflect.DeepEqual(a, b) {
			t.Fatalf("sample %d decodes differently:\nencoding/json %+v\nUnmarshalFast %+v", i, a, b)
		}
	}
	// Documents encoding/json accepts that it did not write: other key
	// case, unknown and duplicate members, null.
	in := `{"ID":"x","id":"y","unknown":[1,{"a":2}],"seq":3,"vars":null,"parts":[{"MR":5}],"when":"2026-12-07T03:00:00+01:00"}`
	var a, b fjRecord
	if err := json.Unmarshal([]byte(in), &a); err != nil {
		t.Fatal(err)
	}
	if err := UnmarshalFast([]byte(in), &b); err != nil {
		t.Fatal(err)
	}
	if !reflect.DeepEqual(a, b) {
		t.Fatalf("decodes differently:\nencoding/json %+v\nUnmarshalFast %+v", a, b)
	}
	if err := UnmarshalFast([]byte(`{"id":`), &b); err == nil {
		t.Fatal("truncated document decoded without error")
	}
}

// GetJSONFast and SetJSONFast go through Badger on disk like GetJSON and
// SetJSON, and read each other's records.
func TestFastJSONStore(t *testing.T) {
	st, err := Open(Options{Dir: t.TempDir()})
	if err != nil {
		t.Fatal(err)
	}
	defer st.Close()
	r := fjSample(rand.New(rand.NewSource(2)))
	if err := st.Update(func(txn *Txn) error {
		if err := SetJSON(txn, "a", &r); err != nil {
			return err
		}
		if err := SetJSONTTLFast(txn, "c", &r, time.Hour); err != nil {
			return err
		}
		return SetJSONFast(txn, "b", &r)
	}); err != nil {
		t.Fatal(err)
	}
	if err := st.View(func(txn *Txn) error {
		for _, k := range []string{"a", "b", "c"} {
			var x, y fjRecord
			if err := GetJSON(txn, k, &x); err != nil {
				return err
			}
			if err := GetJSONFast(txn, k, &y); err != nil {
				return err
			}
			if !reflect.DeepEqual(x, y) || x.ID != r.ID || x.Seq != r.Seq {
				t.Errorf("%s: GetJSON %+v, GetJSONFast %+v", k, x, y)
			}
		}
		var z fjRecord
		if err := GetJSONFast(txn, "missing", &z); err != ErrNotFound {
			t.Errorf("missing key: %v, want ErrNotFound", err)
		}
		return nil
	}); err != nil {
		t.Fatal(err)
	}
}
