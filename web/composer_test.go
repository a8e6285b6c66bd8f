package web

import (
	"encoding/json"
	"os"
	"strings"
	"testing"

	"github.com/pbxgate/pbxgate/gateway/sms"
)

// planVector is one of testdata/sms_plan_vectors.json: a text (pieces
// repeated) and how 3GPP TS 23.038/23.040 send it. The same vectors check
// the Go planner (TestPlanVectorsGo) and the portal's JavaScript copy in
// Chromium (TestBrowserComposer).
type planVector struct {
	Name     string  `json:"name"`
	Pieces   [][]any `json:"text"`
	Encoding string  `json:"encoding"`
	Chars    int     `json:"chars"`
	Parts    int     `json:"parts"`
	Units    int     `json:"units"`
	Left     int     `json:"left"`
}

func (v planVector) text() string {
	var b strings.Builder
	for _, p := range v.Pieces {
		b.WriteString(strings.Repeat(p[0].(string), int(p[1].(float64))))
	}
	return b.String()
}

func planVectors(t *testing.T) []planVector {
	t.Helper()
	b, err := os.ReadFile("testdata/sms_plan_vectors.json")
	if err != nil {
		t.Fatal(err)
	}
	var f struct{ Vectors []planVector }
	if err := json.Unmarshal(b, &f); err != nil {
		t.Fatal(err)
	}
	if len(f.Vectors) < 10 {
		t.Fatalf("only %d vectors", len(f.Vectors))
	}
	return f.Vectors
}

// TestPlanVectorsGo: gateway/sms's planner (what the modem driver sends)
// agrees with the hand-worked vectors.
func TestPlanVectorsGo(t *testing.T) {
	t.Parallel()
	for _, v := range planVectors(t) {
		p, err := sms.PlanText(v.text())
		if err != nil {
			t.Fatalf("%s: %v", v.Name, err)
		}
		if p.Encoding != v.Encoding || p.Chars != v.Chars || p.Parts != v.Parts || p.Units != v.Units || p.Left != v.Left {
			t.Errorf("%s: Go plan %+v, want %s chars %d parts %d units %d left %d", v.Name, p, v.Encoding, v.Chars, v.Parts, v.Units, v.Left)
		}
	}
}
