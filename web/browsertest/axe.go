package browsertest

import (
	_ "embed"
	"encoding/json"
	"fmt"
	"strings"

	"github.com/chromedp/chromedp"
)

// axeSource is axe-core, vendored (axe/README.md): no network at test time.
//
//go:embed axe/axe.min.js
var axeSource string

// AxeViolation is one rule axe-core found broken, with the elements.
type AxeViolation struct {
	ID      string   `json:"id"`
	Impact  string   `json:"impact"`
	Help    string   `json:"help"`
	Targets []string `json:"targets"`
}

func (v AxeViolation) String() string {
	return fmt.Sprintf("%s (%s): %s at %s", v.ID, v.Impact, v.Help, strings.Join(v.Targets, ", "))
}

// Axe runs axe-core's WCAG 2.1 A/AA rules on the current page and returns
// the serious and critical violations.
func (b *Browser) Axe() []AxeViolation {
	b.t.Helper()
	const run = `(async () => {
  const r = await axe.run(document, {runOnly: {type: "tag", values: ["wcag2a", "wcag2aa", "wcag21a", "wcag21aa", "best-practice"]}, resultTypes: ["violations"]});
  return JSON.stringify(r.violations.filter(v => v.impact === "serious" || v.impact === "critical").map(v => ({
    id: v.id, impact: v.impact, help: v.help, targets: v.nodes.slice(0, 5).map(n => n.target.join(" "))})));
})()`
	if _, err := chromedp.Run(b.Ctx, chromedp.Evaluate[bool](axeSource+";\ntrue")); err != nil {
		b.Fail("inject axe-core", err)
	}
	out, err := chromedp.Run(b.Ctx, chromedp.Evaluate[string](run, chromedp.EvalAwaitPromise))
	if err != nil {
		b.Fail("run axe-core", err)
	}
	var vs []AxeViolation
	if err := json.Unmarshal([]byte(out), &vs); err != nil {
		b.Fail("read axe-core's result", err)
	}
	return vs
}
