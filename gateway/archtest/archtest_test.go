// Package archtest holds the architecture test: the import rules that keep
// pbxgate's layers apart (see docs/architecture.md).
package archtest

import (
	"encoding/json"
	"errors"
	"go/parser"
	"go/token"
	"io"
	"os/exec"
	"path/filepath"
	"sort"
	"strconv"
	"strings"
	"testing"
)

const module = "github.com/pbxgate/pbxgate"

// badgerAllowed lists files outside gateway/store that may import Badger
// (or ristretto): none. Code and tests go through the gateway/store helpers
// (store.Prefix, store.SetTTL, store.Exists, store.EachFrom,
// store.Loader, store.ErrNotFound …). The map stays so that a temporary
// exception, if one is ever needed while merging, is explicit; an entry
// that no longer imports Badger fails the test, so the list only shrinks.
var badgerAllowed = map[string]bool{}

// pkg is what `go list -json` says about one package.
type pkg struct {
	ImportPath   string
	Dir          string
	Deps         []string
	GoFiles      []string
	TestGoFiles  []string
	XTestGoFiles []string
	Imports      []string
	TestImports  []string
	XTestImports []string
}

func listPackages(t *testing.T) []pkg {
	t.Helper()
	cmd := exec.Command("go", "list", "-deps=false", "-json", module+"/...")
	cmd.Dir = "../.."
	out, err := cmd.Output()
	if err != nil {
		var ee *exec.ExitError
		if errors.As(err, &ee) {
			t.Fatalf("go list: %v\n%s", err, ee.Stderr)
		}
		t.Fatalf("go list: %v", err)
	}
	var pkgs []pkg
	dec := json.NewDecoder(strings.NewReader(string(out)))
	for {
		var p pkg
		if err := dec.Decode(&p); errors.Is(err, io.EOF) {
			break
		} else if err != nil {
			t.Fatal(err)
		}
		pkgs = append(pkgs, p)
	}
	if len(pkgs) < 20 {
		t.Fatalf("go list found only %d packages", len(pkgs))
	}
	return pkgs
}

func rel(path string) string { return strings.TrimPrefix(strings.TrimPrefix(path, module), "/") }

// TestGatewayImportsNoOuterLayer: the gateway (the domain) is used by the
// drivers, the PBX side, the portal and cmd, never the other way round —
// not even through another package. Its tests may use the simulators.
func TestGatewayImportsNoOuterLayer(t *testing.T) {
	for _, p := range listPackages(t) {
		if !strings.HasPrefix(rel(p.ImportPath), "gateway/") && rel(p.ImportPath) != "gateway" {
			continue
		}
		for _, d := range p.Deps {
			if v := outerLayer(d); v != "" {
				t.Errorf("%s depends on %s (%s): the gateway must not import drivers, pbx or web; "+
					"define the interface in the gateway and let the outer package implement it", rel(p.ImportPath), rel(d), v)
			}
		}
	}
}

func outerLayer(importPath string) string {
	r := rel(importPath)
	if r == importPath { // not ours
		return ""
	}
	for _, layer := range []string{"drivers", "pbx", "web"} {
		if r == layer || strings.HasPrefix(r, layer+"/") {
			return layer
		}
	}
	return ""
}

// TestOnlyStoreImportsBadger: Badger stays behind gateway/store's API, in
// code and in tests.
func TestOnlyStoreImportsBadger(t *testing.T) {
	stillImporting := map[string]bool{}
	for _, p := range listPackages(t) {
		r := rel(p.ImportPath)
		if r == "gateway/store" {
			continue
		}
		files := append(append(append([]string(nil), p.GoFiles...), p.TestGoFiles...), p.XTestGoFiles...)
		for _, f := range files {
			imports, err := fileImports(filepath.Join(p.Dir, f))
			if err != nil {
				t.Fatal(err)
			}
			for _, imp := range imports {
				if !strings.HasPrefix(imp, "github.com/dgraph-io/badger") && !strings.HasPrefix(imp, "github.com/dgraph-io/ristretto") {
					continue
				}
				name := r + "/" + f
				if badgerAllowed[name] {
					stillImporting[name] = true
					continue
				}
				t.Errorf("%s imports %s: use the gateway/store helpers (store.Txn, store.Prefix, store.SetTTL, store.ErrNotFound …)", name, imp)
			}
		}
	}
	var stale []string
	for f := range badgerAllowed {
		if !stillImporting[f] {
			stale = append(stale, f)
		}
	}
	sort.Strings(stale)
	for _, f := range stale {
		t.Errorf("%s is allowed to import Badger but no longer does: remove it from badgerAllowed", f)
	}
}

func fileImports(path string) ([]string, error) {
	f, err := parser.ParseFile(token.NewFileSet(), path, nil, parser.ImportsOnly)
	if err != nil {
		return nil, err
	}
	var out []string
	for _, s := range f.Imports {
		v, err := strconv.Unquote(s.Path.Value)
		if err != nil {
			return nil, err
		}
		out = append(out, v)
	}
	return out, nil
}

// TestRulesCatchViolations: the two rules above must be able to fail.
func TestRulesCatchViolations(t *testing.T) {
	if outerLayer(module+"/drivers/smspool") != "drivers" || outerLayer(module+"/web") != "web" ||
		outerLayer(module+"/pbx/phonebook") != "pbx" || outerLayer(module+"/gateway/store") != "" ||
		outerLayer("github.com/other/web") != "" || outerLayer(module+"/webhooks") != "" {
		t.Fatal("outerLayer misclassifies packages")
	}
	imports, err := fileImports("../../gateway/store/store.go")
	if err != nil {
		t.Fatal(err)
	}
	found := false
	for _, imp := range imports {
		found = found || strings.HasPrefix(imp, "github.com/dgraph-io/badger")
	}
	if !found {
		t.Fatal("the Badger import of gateway/store/store.go was not seen")
	}
}
