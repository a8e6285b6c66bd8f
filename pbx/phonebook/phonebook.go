// Package phonebook reads the remote phonebooks phones and PBXs already use
// (Yealink and Grandstream XML phonebooks, CSV files behind a URL),
// refreshes them periodically and names contacts in chats
// (implements session.Names).
package phonebook

import (
	"bytes"
	"context"
	"encoding/csv"
	"encoding/xml"
	"errors"
	"fmt"
	"io"
	"log/slog"
	"net/http"
	"net/url"
	"strings"
	"sync"
	"time"
	"unicode"

	"github.com/pbxgate/pbxgate/gateway/recipients"
)

// MaxSize bounds a downloaded phonebook.
const MaxSize = 8 << 20

// Formats.
const (
	Auto        = "auto"
	Yealink     = "yealink"
	Grandstream = "grandstream"
	CSV         = "csv"
)

// ErrFormat: the document is not a phonebook in the expected format.
var ErrFormat = errors.New("not a phonebook")

// Config configures one remote phonebook.
type Config struct {
	// URL of the phonebook; user:password@ in it is sent as basic auth and
	// never logged.
	URL     string
	Format  string        // auto (default), yealink, grandstream, csv
	Region  string        // country of national numbers, e.g. DE
	Refresh time.Duration // default 1 h
	Client  *http.Client  // default: 30 s timeout
	Logger  *slog.Logger
}

// Remote is a remote phonebook kept in memory.
type Remote struct {
	cfg Config
	log *slog.Logger

	mu      sync.RWMutex
	names   map[string]string // E.164 → name
	fetched time.Time
	lastErr error
}

// New checks the configuration; Run or Refresh load the phonebook.
func New(cfg Config) (*Remote, error) {
	u, err := url.Parse(cfg.URL)
	if err != nil || (u.Scheme != "http" && u.Scheme != "https") || u.Host == "" {
		return nil, fmt.Errorf("phonebook URL %q must be http(s)://host/path", redact(cfg.URL))
	}
	switch cfg.Format {
	case "":
		cfg.Format = Auto
	case Auto, Yealink, Grandstream, CSV:
	default:
		return nil, fmt.Errorf("phonebook format %q: use auto, yealink, grandstream or csv", cfg.Format)
	}
	if cfg.Refresh <= 0 {
		cfg.Refresh = time.Hour
	}
	if cfg.Client == nil {
		cfg.Client = &http.Client{Timeout: 30 * time.Second}
	}
	if cfg.Logger == nil {
		cfg.Logger = slog.New(slog.DiscardHandler)
	}
	return &Remote{cfg: cfg, log: cfg.Logger.With("phonebook", redact(cfg.URL)), names: map[string]string{}}, nil
}

func redact(raw string) string {
	u, err := url.Parse(raw)
	if err != nil {
		return "(unparsable URL)"
	}
	return u.Redacted()
}

// Run refreshes the phonebook every Refresh (sooner after a failure) until
// ctx ends. A failed refresh keeps the entries already loaded.
func (r *Remote) Run(ctx context.Context) error {
	wait := time.Duration(0)
	for {
		select {
		case <-ctx.Done():
			return nil
		case <-time.After(wait):
		}
		if err := r.Refresh(ctx); err != nil {
			if ctx.Err() != nil {
				return nil
			}
			r.log.Warn("phonebook refresh failed; keeping the previous entries", "err", err)
			wait = min(r.cfg.Refresh, time.Minute)
			continue
		}
		wait = r.cfg.Refresh
	}
}

// Refresh downloads and parses the phonebook once.
func (r *Remote) Refresh(ctx context.Context) error {
	err := r.refresh(ctx)
	r.mu.Lock()
	r.lastErr = err
	r.mu.Unlock()
	return err
}

func (r *Remote) refresh(ctx context.Context) error {
	req, err := http.NewRequestWithContext(ctx, http.MethodGet, r.cfg.URL, nil)
	if err != nil {
		return fmt.Errorf("phonebook request: %w", err)
	}
	res, err := r.cfg.Client.Do(req)
	if err != nil {
		var uerr *url.Error
		if errors.As(err, &uerr) {
			err = uerr.Err // the URL may hold a password
		}
		return fmt.Errorf("fetch phonebook %s: %w", redact(r.cfg.URL), err)
	}
	defer res.Body.Close()
	if res.StatusCode != http.StatusOK {
		return fmt.Errorf("fetch phonebook %s: HTTP %s", redact(r.cfg.URL), res.Status)
	}
	data, err := io.ReadAll(io.LimitReader(res.Body, MaxSize+1))
	if err != nil {
		return fmt.Errorf("read phonebook %s: %w", redact(r.cfg.URL), err)
	}
	if len(data) > MaxSize {
		return fmt.Errorf("phonebook %s is larger than %d MB", redact(r.cfg.URL), MaxSize>>20)
	}
	names, err := Parse(data, r.cfg.Format, r.cfg.Region)
	if err != nil {
		return fmt.Errorf("phonebook %s: %w", redact(r.cfg.URL), err)
	}
	r.mu.Lock()
	r.names, r.fetched = names, time.Now()
	r.mu.Unlock()
	r.log.Debug("phonebook loaded", "entries", len(names))
	return nil
}

// NameOf returns the name for an E.164 number (implements session.Names).
func (r *Remote) NameOf(_ context.Context, number string) (string, bool) {
	r.mu.RLock()
	defer r.mu.RUnlock()
	n, ok := r.names[number]
	if !ok && number != "" && number[0] != '+' {
		n, ok = r.names["+"+number] // WhatsApp ids come without +
	}
	return n, ok
}

// Status is what the portal shows about a phonebook.
type Status struct {
	URL       string    `json:"url"` // password removed
	Entries   int       `json:"entries"`
	Fetched   time.Time `json:"fetched,omitzero"`
	LastError string    `json:"last_error,omitempty"`
}

// Status returns the phonebook's state.
func (r *Remote) Status() Status {
	r.mu.RLock()
	defer r.mu.RUnlock()
	s := Status{URL: redact(r.cfg.URL), Entries: len(r.names), Fetched: r.fetched}
	if r.lastErr != nil {
		s.LastError = r.lastErr.Error()
	}
	return s
}

// Books looks names up in several phonebooks, first match wins.
type Books []*Remote

// NameOf implements session.Names.
func (b Books) NameOf(ctx context.Context, number string) (string, bool) {
	for _, r := range b {
		if n, ok := r.NameOf(ctx, number); ok {
			return n, true
		}
	}
	return "", false
}

// Parse reads a phonebook document into E.164 number → name. Numbers that
// do not normalise are skipped; a document without any entry is an error.
func Parse(data []byte, format, region string) (map[string]string, error) {
	if format == "" || format == Auto {
		format = detect(data)
	}
	var pairs [][2]string // name, number
	var err error
	switch format {
	case Yealink, Grandstream:
		pairs, err = parseXML(data)
	case CSV:
		pairs, err = parseCSV(data)
	default:
		return nil, fmt.Errorf("%w: cannot tell the format (set it to yealink, grandstream or csv)", ErrFormat)
	}
	if err != nil {
		return nil, err
	}
	out := map[string]string{}
	for _, p := range pairs {
		name := strings.TrimSpace(p[0])
		if name == "" {
			continue
		}
		n, err := recipients.Normalize(p[1], region)
		if err != nil {
			continue
		}
		if _, dup := out[n]; !dup {
			out[n] = name
		}
	}
	if len(out) == 0 {
		return nil, fmt.Errorf("%w: no entry with a name and a valid number (%s)", ErrFormat, format)
	}
	return out, nil
}

func detect(data []byte) string {
	t := bytes.TrimSpace(bytes.TrimPrefix(data, []byte("\xef\xbb\xbf")))
	if bytes.HasPrefix(t, []byte("<")) {
		if bytes.Contains(t, []byte("<AddressBook")) {
			return Grandstream
		}
		return Yealink
	}
	return CSV
}

// parseXML reads Yealink (DirectoryEntry Name/Telephone, or Unit
// Name/Phone1..3 attributes) and Grandstream (Contact FirstName/LastName,
// Phone/phonenumber) phonebooks by walking the elements.
func parseXML(data []byte) ([][2]string, error) {
	dec := xml.NewDecoder(bytes.NewReader(data))
	dec.Strict = false
	var out [][2]string
	type entry struct {
		name, first, last string
		numbers           []string
	}
	var cur *entry
	var text strings.Builder
	flush := func() {
		if cur == nil {
			return
		}
		name := cur.name
		if name == "" {
			name = strings.TrimSpace(cur.first + " " + cur.last)
		}
		for _, n := range cur.numbers {
			out = append(out, [2]string{name, n})
		}
		cur = nil
	}
	for {
		tok, err := dec.Token()
		if err == io.EOF {
			break
		}
		if err != nil {
			return nil, fmt.Errorf("%w: XML: %v", ErrFormat, err)
		}
		switch el := tok.(type) {
		case xml.StartElement:
			text.Reset()
			switch el.Name.Local {
			case "DirectoryEntry", "Contact":
				flush()
				cur = &entry{}
			case "Unit":
				flush()
				e := &entry{}
				for _, a := range el.Attr {
					switch a.Name.Local {
					case "Name":
						e.name = a.Value
					case "Phone1", "Phone2", "Phone3":
						if a.Value != "" {
							e.numbers = append(e.numbers, a.Value)
						}
					}
				}
				cur = e
				flush()
			}
		case xml.CharData:
			text.Write(el)
		case xml.EndElement:
			if cur == nil {
				continue
			}
			v := strings.TrimSpace(text.String())
			switch el.Name.Local {
			case "Name":
				cur.name = v
			case "FirstName":
				cur.first = v
			case "LastName":
				cur.last = v
			case "Telephone", "phonenumber":
				if v != "" {
					cur.numbers = append(cur.numbers, v)
				}
			case "DirectoryEntry", "Contact":
				flush()
			}
			text.Reset()
		}
	}
	flush()
	return out, nil
}

// parseCSV takes the first column holding letters as the name and every
// column holding a phone number as a number; a header row is skipped by
// the same rule (it has no numbers).
func parseCSV(data []byte) ([][2]string, error) {
	data = bytes.TrimPrefix(data, []byte("\xef\xbb\xbf"))
	sep := ','
	if first, _, _ := bytes.Cut(data, []byte("\n")); bytes.Count(first, []byte(";")) > bytes.Count(first, []byte(",")) {
		sep = ';'
	}
	rd := csv.NewReader(bytes.NewReader(data))
	rd.Comma = sep
	rd.FieldsPerRecord = -1
	rd.LazyQuotes = true
	var out [][2]string
	for {
		rec, err := rd.Read()
		if err == io.EOF {
			break
		}
		if err != nil {
			return nil, fmt.Errorf("%w: CSV: %v", ErrFormat, err)
		}
		name := ""
		var numbers []string
		for _, f := range rec {
			f = strings.TrimSpace(f)
			switch {
			case looksLikeNumber(f):
				numbers = append(numbers, f)
			case name == "" && strings.IndexFunc(f, unicode.IsLetter) >= 0:
				name = f
			}
		}
		for _, n := range numbers {
			out = append(out, [2]string{name, n})
		}
	}
	return out, nil
}

func looksLikeNumber(s string) bool {
	digits := 0
	for _, r := range s {
		switch {
		case r >= '0' && r <= '9':
			digits++
		case r == '+' || r == ' ' || r == '-' || r == '/' || r == '(' || r == ')' || r == '.':
		default:
			return false
		}
	}
	return digits >= 5
}
