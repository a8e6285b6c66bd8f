// Command netscope fails when a test, script or check of the repository
// names a network target outside this machine: every literal address or
// host in *_test.go, *.sh, testdata, the Makefile, CI scripts and the demo
// configuration must be on loopback (127.0.0.0/8, ::1, localhost), a network
// in CIDR notation, or carry a "netscope: <why it is never dialled>" marker
// on its line or on the comment line above.
//
//	go run ./cmd/netscope [repository root]   (make lint)
//
// It is a scan of literals: an address built at run time is not seen, which
// is why tests take their addresses from listeners they open on loopback.
package main

import (
	"fmt"
	"os"
)

func main() {
	root := "."
	if len(os.Args) > 1 {
		root = os.Args[1]
	}
	found, err := Scan(root)
	if err != nil {
		fmt.Fprintln(os.Stderr, "netscope:", err)
		os.Exit(2)
	}
	for _, f := range found {
		fmt.Println(f)
	}
	if len(found) > 0 {
		fmt.Fprintf(os.Stderr, "netscope: %d target(s) outside loopback; use a loopback address, or mark a literal that is never dialled with %q and the reason\n", len(found), Marker+" <reason>")
		os.Exit(1)
	}
}
