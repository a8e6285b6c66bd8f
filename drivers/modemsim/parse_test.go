package modemsim

import (
	"reflect"
	"testing"
)

func TestSplitCommands(t *testing.T) {
	cases := []struct {
		in   string
		want []cmd
		err  bool
	}{
		{"", nil, false},
		{"E0V1", []cmd{{name: "E", args: "0"}, {name: "V", args: "1"}}, false},
		{"Z", []cmd{{name: "Z"}}, false},
		{"&F0", []cmd{{name: "&F", args: "0"}}, false},
		{"+cmgf=0;+CNMI=2,1,0,2,0", []cmd{{name: "+CMGF", op: "=", args: "0"}, {name: "+CNMI", op: "=", args: "2,1,0,2,0"}}, false},
		{`+CUSD=1,"*100#;x",15`, []cmd{{name: "+CUSD", op: "=", args: `1,"*100#;x",15`}}, false},
		{"E0+CMEE=2;+CSQ", []cmd{{name: "E", args: "0"}, {name: "+CMEE", op: "=", args: "2"}, {name: "+CSQ"}}, false},
		{"+CPMS?", []cmd{{name: "+CPMS", op: "?"}}, false},
		{"+CPMS=?", []cmd{{name: "+CPMS", op: "=?"}}, false},
		{"^ICCID?", []cmd{{name: "^ICCID", op: "?"}}, false},
		{"S7=60", []cmd{{name: "S", op: "=", args: "7=60"}}, false},
		{"+", nil, true},
		{"+CSQ!", nil, true},
		{"#", nil, true},
	}
	for _, c := range cases {
		got, err := splitCommands(c.in)
		if (err != nil) != c.err {
			t.Errorf("%q: err %v", c.in, err)
			continue
		}
		if !c.err && !reflect.DeepEqual(got, c.want) {
			t.Errorf("%q = %+v, want %+v", c.in, got, c.want)
		}
	}
}

func TestParams(t *testing.T) {
	got := params(` "SM" ,"ME",,3`)
	want := []string{"SM", "ME", "", "3"}
	if !reflect.DeepEqual(got, want) {
		t.Fatalf("params = %q, want %q", got, want)
	}
	if v, ok := intParam(want, 2, 7); !ok || v != 7 {
		t.Fatalf("missing param: %d %v", v, ok)
	}
	if _, ok := intParam(want, 0, 7); ok {
		t.Fatal(`"SM" parsed as int`)
	}
}

func TestLuhnAndSwap(t *testing.T) {
	if got := luhn("49015420323751"); got != "490154203237518" {
		t.Fatalf("luhn = %s", got)
	}
	if got := swapNibbles("894902"); got != "989420" {
		t.Fatalf("swap = %s", got)
	}
	if got := swapNibbles("123"); got != "21F3" {
		t.Fatalf("swap odd = %s", got)
	}
}
