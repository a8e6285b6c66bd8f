package main

import (
	"bufio"
	"bytes"
	"errors"
	"fmt"
	"io"
	"io/fs"
	"net/netip"
	"os"
	"path/filepath"
	"regexp"
	"strings"
)

// Finding is a literal network address outside loopback in a file that
// tests, scripts or checks run.
type Finding struct {
	Path   string // slash-separated, relative to the scanned root
	Line   int
	Target string
	Text   string
}

func (f Finding) String() string {
	return fmt.Sprintf("%s:%d: %s is not on loopback: %s", f.Path, f.Line, f.Target, strings.TrimSpace(f.Text))
}

// Marker is how a line says that an address in it is never dialled: the
// marker followed by the reason, on the line itself or on a comment line
// directly above it (comment lines in a row above a line all count).
// FileMarker, with a reason, in a comment line before the first line that is
// not a comment covers the whole file; it is for tables of addresses that
// are only ever parsed, such as this scanner's own tests.
const (
	Marker     = "netscope:"
	FileMarker = "netscope:file"
)

// fixtures are files whose format has no comments, listed with why their
// addresses are never a target. Each entry is checked to exist, so the list
// cannot outlive its files.
var fixtures = map[string]string{
	"drivers/whatsapp/testdata/webhooks/text_message_from_click_to_whatsapp_ad.json": "Meta's published webhook example; its referral URLs are parsed and logged, never fetched",
	"drivers/whatsapp/testdata/webhooks/location_message.json":                       "Meta's published webhook example; the location's URL is shown, never fetched",
	"drivers/whatsapp/testdata/statuses/failed.json":                                 "Meta's published status example; the error's href is documentation, never fetched",
}

var (
	// URL-like targets: scheme://host or sip(s):user@host.
	urlRe = regexp.MustCompile(`\b(?i:https?|wss?|ftp|smtps?|tcp|udp|tls|nats)://([^/\s"'` + "`" + `<>)\\,;]+)|\b(?i:sips?):[A-Za-z0-9_.!~*'()&=+$,;?/%-]+@([^;>"'\s,)]+)`)
	// IPv4 literals that are not part of a longer dotted number (versions,
	// OIDs); a /prefix makes it a network, not a target.
	// A section sign before it makes it a section number (RFC 3261
	// §17.1.2.2).
	ipv4Re = regexp.MustCompile(`(^|[^0-9.§])((?:[0-9]{1,3}\.){3}[0-9]{1,3})(/[0-9]{1,2})?($|[^0-9.])`)
	// Bracketed IPv6 literals, as they appear in host:port and URLs.
	ipv6Re = regexp.MustCompile(`\[([0-9A-Fa-f:.]+)\]`)
	// host:port with a domain name, as configurations write a registrar.
	hostPortRe = regexp.MustCompile(`(^|[^A-Za-z0-9_.@/-])((?:[A-Za-z0-9-]+\.)+[A-Za-z]{2,}):[0-9]{1,5}\b`)
)

// scanned says which files run as part of tests, scripts and checks.
func scanned(rel string) bool {
	base := filepath.Base(rel)
	switch {
	case strings.HasSuffix(base, "_test.go"), strings.HasSuffix(base, ".sh"),
		base == "Makefile", strings.HasPrefix(rel, ".ci/"),
		strings.Contains("/"+rel, "/testdata/"),
		// Configurations the demo and tests start the daemon with.
		rel == "cmd/pbxgate/demo.yaml", strings.HasSuffix(base, ".cfg"):
		return true
	}
	return false
}

// skipDir lists directories that are not the project's source.
func skipDir(rel string) bool {
	switch rel {
	case ".git", "bin", "dist", "data", "node_modules":
		return true
	}
	// Test outputs (the browser tests' screenshots): written while the
	// tests run, git-ignored, never read by a test as input.
	if filepath.Base(rel) == "artifacts" && filepath.Base(filepath.Dir(rel)) == "testdata" {
		return true
	}
	return strings.HasPrefix(filepath.Base(rel), ".") && rel != ".ci"
}

// Scan walks root and returns every unmarked literal target outside
// loopback in the files tests, scripts and checks use.
func Scan(root string) ([]Finding, error) {
	var out []Finding
	for p := range fixtures {
		if _, err := os.Stat(filepath.Join(root, filepath.FromSlash(p))); err != nil {
			return nil, fmt.Errorf("netscope fixture list: %w (remove the entry)", err)
		}
	}
	err := filepath.WalkDir(root, func(path string, d fs.DirEntry, err error) error {
		if err != nil {
			return err
		}
		rel, _ := filepath.Rel(root, path)
		rel = filepath.ToSlash(rel)
		if d.IsDir() {
			if rel != "." && skipDir(rel) {
				return filepath.SkipDir
			}
			return nil
		}
		if !d.Type().IsRegular() || !scanned(rel) {
			return nil
		}
		if _, ok := fixtures[rel]; ok {
			return nil
		}
		fs, err := scanFile(path, rel)
		out = append(out, fs...)
		return err
	})
	return out, err
}

func scanFile(path, rel string) ([]Finding, error) {
	f, err := os.Open(path)
	if err != nil {
		return nil, err
	}
	defer f.Close()
	// A binary file (an image, a capture) is no script or configuration:
	// its bytes only look like host names by chance.
	head := make([]byte, 8000)
	n, err := io.ReadFull(f, head)
	if err != nil && !errors.Is(err, io.ErrUnexpectedEOF) && !errors.Is(err, io.EOF) {
		return nil, err
	}
	if bytes.IndexByte(head[:n], 0) >= 0 {
		return nil, nil
	}
	if _, err := f.Seek(0, io.SeekStart); err != nil {
		return nil, err
	}
	var out []Finding
	sc := bufio.NewScanner(f)
	sc.Buffer(make([]byte, 0, 64*1024), 4*1024*1024)
	marked := false // the comment lines directly above carry the marker
	header := true  // still in the file's leading comment
	for n := 1; sc.Scan(); n++ {
		line := sc.Text()
		if header && isComment(line) {
			if i := strings.Index(line, FileMarker); i >= 0 && strings.TrimSpace(line[i+len(FileMarker):]) != "" {
				return nil, nil
			}
		} else if strings.TrimSpace(line) != "" {
			header = false
		}
		here := hasMarker(line)
		if !here && !marked && !isComment(line) { // a comment line is never dialled
			for _, t := range Targets(line) {
				out = append(out, Finding{Path: rel, Line: n, Target: t, Text: line})
			}
		}
		if isComment(line) {
			marked = marked || here
		} else {
			marked = false
		}
	}
	return out, sc.Err()
}

// hasMarker reports a marker followed by a reason.
func hasMarker(line string) bool {
	i := strings.Index(line, Marker)
	return i >= 0 && strings.TrimSpace(line[i+len(Marker):]) != ""
}

func isComment(line string) bool {
	t := strings.TrimSpace(line)
	return strings.HasPrefix(t, "//") || strings.HasPrefix(t, "#")
}

// Targets returns the hosts and addresses in line that are outside
// loopback.
func Targets(line string) []string {
	var out []string
	add := func(host string) {
		if h := hostOf(host); h != "" && !local(h) {
			out = append(out, h)
		}
	}
	for _, m := range urlRe.FindAllStringSubmatch(line, -1) {
		if m[1] != "" {
			add(m[1])
		} else {
			add(m[2])
		}
	}
	// Addresses inside URLs were judged above; strip them so they are not
	// counted twice.
	rest := urlRe.ReplaceAllString(line, " ")
	for _, m := range ipv4Re.FindAllStringSubmatch(rest, -1) {
		if m[3] != "" {
			continue // a network (CIDR), not a target
		}
		add(m[2])
	}
	for _, m := range hostPortRe.FindAllStringSubmatch(rest, -1) {
		add(m[2])
	}
	for _, m := range ipv6Re.FindAllStringSubmatch(rest, -1) {
		if a, err := netip.ParseAddr(m[1]); err == nil {
			add("[" + a.String() + "]")
		}
	}
	return out
}

// hostOf takes user info and port off an authority; "" when it holds a
// placeholder (a format verb, a shell or template variable) rather than a
// host.
func hostOf(auth string) string {
	if i := strings.LastIndex(auth, "@"); i >= 0 {
		auth = auth[i+1:]
	}
	if strings.ContainsAny(auth, "%${}") || auth == "" {
		return ""
	}
	if strings.HasPrefix(auth, "[") {
		// An IPv6 literal, or a placeholder such as sipp's [local_ip].
		if i := strings.Index(auth, "]"); i > 0 {
			if _, err := netip.ParseAddr(auth[1:i]); err == nil {
				return auth[:i+1]
			}
		}
		return ""
	}
	if i := strings.Index(auth, ":"); i >= 0 {
		auth = auth[:i]
	}
	return strings.TrimRight(auth, ".")
}

// local is true for loopback, the wildcard addresses (a connect to them
// reaches this machine) and localhost names.
func local(host string) bool {
	h := strings.Trim(host, "[]")
	if a, err := netip.ParseAddr(h); err == nil {
		return a.IsLoopback() || a.IsUnspecified()
	}
	h = strings.ToLower(h)
	return h == "localhost" || strings.HasSuffix(h, ".localhost")
}
