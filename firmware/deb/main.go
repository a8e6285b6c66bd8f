// Command deb builds pbxgate's Debian package with nfpm (as a library, so
// no packaging tool needs installing). It lives in its own module so nfpm's
// dependencies stay out of pbxgate's go.mod.
//
//	go run . --arch arm64 --version v1.2.3 --binary ../../dist/pbxgate-linux-arm64 --out ../../dist
package main

import (
	"flag"
	"fmt"
	"os"
	"path/filepath"
	"regexp"
	"strings"

	"github.com/goreleaser/nfpm/v2"
	_ "github.com/goreleaser/nfpm/v2/deb" // registers the deb packager
)

func main() {
	arch := flag.String("arch", "", "Debian architecture: amd64, arm64 or armhf")
	version := flag.String("version", "", "pbxgate version (git describe form, v prefix optional)")
	binary := flag.String("binary", "", "the pbxgate binary built for --arch")
	out := flag.String("out", ".", "directory for the .deb")
	top := flag.String("top", "../..", "repository root")
	config := flag.String("config", "nfpm.yaml", "nfpm configuration")
	flag.Parse()
	path, err := build(*config, *arch, *version, *binary, *out, *top)
	if err != nil {
		fmt.Fprintln(os.Stderr, "deb:", err)
		os.Exit(1)
	}
	fmt.Println(path)
}

func build(config, arch, version, binary, outDir, top string) (string, error) {
	switch arch {
	case "amd64", "arm64", "armhf":
	default:
		return "", fmt.Errorf("--arch must be amd64, arm64 or armhf, not %q", arch)
	}
	if _, err := os.Stat(binary); err != nil {
		return "", fmt.Errorf("--binary: %w", err)
	}
	absTop, err := filepath.Abs(top)
	if err != nil {
		return "", err
	}
	absBin, err := filepath.Abs(binary)
	if err != nil {
		return "", err
	}
	debVersion := DebianVersion(version)
	vars := map[string]string{"ARCH": arch, "VERSION": debVersion, "BINARY": absBin, "TOP": absTop}
	// Expand the whole file (nfpm itself expands only some fields).
	text, err := os.ReadFile(config)
	if err != nil {
		return "", err
	}
	expanded := os.Expand(string(text), func(k string) string { return vars[k] })
	cfg, err := nfpm.ParseWithEnvMapping(strings.NewReader(expanded), func(k string) string { return vars[k] })
	if err != nil {
		return "", fmt.Errorf("%s: %w", config, err)
	}
	info, err := cfg.Get("deb")
	if err != nil {
		return "", err
	}
	info = nfpm.WithDefaults(info)
	if err := nfpm.PrepareForPackager(info, "deb"); err != nil {
		return "", err
	}
	pkg, err := nfpm.Get("deb")
	if err != nil {
		return "", err
	}
	if err := os.MkdirAll(outDir, 0o755); err != nil {
		return "", err
	}
	path := filepath.Join(outDir, pkg.ConventionalFileName(info))
	f, err := os.Create(path + ".tmp")
	if err != nil {
		return "", err
	}
	err = pkg.Package(info, f)
	if cerr := f.Close(); err == nil {
		err = cerr
	}
	if err != nil {
		os.Remove(path + ".tmp")
		return "", err
	}
	return path, os.Rename(path+".tmp", path)
}

var debianSafe = regexp.MustCompile(`[^A-Za-z0-9.+~-]`)

// DebianVersion turns a git describe version into a Debian one that sorts
// the same way: v1.2.3 → 1.2.3, v1.2.3-4-gabc → 1.2.3+4.gabc (after 1.2.3),
// v1.3.0-rc.1 → 1.3.0~rc.1 (before 1.3.0), an untagged hash → 0~git.<hash>.
func DebianVersion(v string) string {
	v = strings.TrimPrefix(v, "v")
	dirty := strings.HasSuffix(v, "-dirty")
	v = strings.TrimSuffix(v, "-dirty")
	if v == "" || v[0] < '0' || v[0] > '9' || !strings.Contains(v, ".") {
		v = "0~git." + v
	} else if m := regexp.MustCompile(`^([0-9.]+)(-[0-9A-Za-z.]+)?-([0-9]+)-g([0-9a-f]+)$`).FindStringSubmatch(v); m != nil {
		v = m[1] + strings.Replace(m[2], "-", "~", 1) + "+" + m[3] + ".g" + m[4]
	} else if core, pre, ok := strings.Cut(v, "-"); ok {
		v = core + "~" + pre
	}
	if dirty {
		v += "+dirty"
	}
	return debianSafe.ReplaceAllString(v, ".")
}
