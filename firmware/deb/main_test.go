package main

import "testing"

func TestDebianVersion(t *testing.T) {
	for in, want := range map[string]string{
		"v1.2.3":             "1.2.3",
		"1.2.3":              "1.2.3",
		"v1.2.3-4-gabc123":   "1.2.3+4.gabc123",
		"v1.3.0-rc.1":        "1.3.0~rc.1",
		"v1.3.0-rc.1-2-gff0": "1.3.0~rc.1+2.gff0",
		"b4c70e8":            "0~git.b4c70e8",
		"b4c70e8-dirty":      "0~git.b4c70e8+dirty",
		"v1.2.3-dirty":       "1.2.3+dirty",
		"dev":                "0~git.dev",
	} {
		if got := DebianVersion(in); got != want {
			t.Errorf("%s: %s, want %s", in, got, want)
		}
	}
}
