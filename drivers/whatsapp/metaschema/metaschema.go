// Package metaschema validates Cloud API request bodies against the JSON
// schemas of Meta's OpenAPI description (github.com/facebook/openapi,
// business-messaging-api_v23.0.yaml, MIT).
//
// schemas.json holds the request-body schemas the client uses and every
// schema they reference, copied unchanged out of Meta's YAML by
// drivers/whatsapp/testdata/gen. New applies the rewrites listed in
// Rewrites before compiling them with github.com/santhosh-tekuri/jsonschema
// (JSON Schema 2020-12, the dialect of OpenAPI 3.1): two translate OpenAPI
// meaning that plain JSON Schema lacks, the others set aside rules of Meta's
// schema that Meta's own examples (and the documented API) break. Each is
// tested to be necessary (metaschema_test.go).
package metaschema

import (
	"bytes"
	_ "embed"
	"encoding/json"
	"errors"
	"fmt"
	"slices"
	"strings"

	"github.com/santhosh-tekuri/jsonschema/v6"
	"golang.org/x/text/language"
	"golang.org/x/text/message"
)

//go:embed schemas.json
var schemasJSON []byte

// Rewrite is one change New makes to Meta's schemas before compiling them.
type Rewrite struct {
	Name string
	// SetAside is true where a rule of Meta's schema is dropped or widened
	// because Meta's own examples or documentation break it; false where
	// the rewrite only expresses OpenAPI meaning in JSON Schema.
	SetAside bool
	Why      string
	apply    func(schemas map[string]any) error
}

// Rewrites are what New applies (set-asides first).
var Rewrites = []Rewrite{
	{Name: "allof-unevaluated", Why: "the message schemas are allOf(BaseMessageProperties, {additionalProperties:false, …}); " +
		"additionalProperties only sees its own part's properties, so taken literally every message (messaging_product, to …) is rejected. " +
		"The intended rule — no property outside the merged parts — is unevaluatedProperties:false on the allOf owner",
		apply: allOfUnevaluated},
	{Name: "discriminator", Why: "TemplateComponent, ParameterObject and ButtonParameterObject pick their concrete schema " +
		"(HeaderComponent, TextParameter, ButtonPayloadParameter …) through an OpenAPI discriminator mapping, which JSON Schema ignores; " +
		"it is expressed as if/then on the discriminating property wherever the base schema is used",
		apply: discriminators},
	{Name: "callback-data", SetAside: true, Why: "biz_opaque_callback_data (≤ 512 characters, echoed in status webhooks) is documented for messages " +
		"but missing from BaseMessageProperties; it is added with the type and length Meta gives it in its calling schema",
		apply: callbackData},
	{Name: "button-index", SetAside: true, Why: `the button index pattern "^[2-6, 11-14]$" rejects "0" and "1", which every template button example uses; ` +
		`the description says "Position index of the button (0-9)", so it becomes ^[0-9]$`,
		apply: buttonIndex},
	{Name: "recipient-type", SetAside: true, Why: "BaseMessageProperties requires recipient_type, but Meta's own Send Test Message, " +
		"Send Contact Message and several other examples leave it out (Meta defaults it to individual); pbxgate always sends it",
		apply: recipientType},
	{Name: "copy-code-button", SetAside: true, Why: `button sub_type "copy_code" with a "coupon_code" parameter (coupon templates, ` +
		`Meta's template documentation) is in neither the sub_type enum nor ButtonParameterObject; both are added, the code limited to 15 characters`,
		apply: copyCode},
	{Name: "language-policy", SetAside: true, Why: "LanguageObject requires policy, but every template example sends only language.code",
		apply: languagePolicy},
	{Name: "location-number", SetAside: true, Why: "LocationMessage types latitude/longitude as string, but its own examples (and its field examples) are numbers; both are accepted",
		apply: locationNumber},
	{Name: "location-header", SetAside: true, Why: `ParameterObject's type enum lacks "location", the parameter of a LOCATION template header ` +
		`(Meta's template documentation); a location parameter with latitude, longitude, name and address is allowed`,
		apply: locationHeader},
	{Name: "cta-url", SetAside: true, Why: `InteractiveObject's type enum lacks "cta_url" and ActionObject has no branch for its action ` +
		`{"name":"cta_url","parameters":{"display_text","url"}} (Meta's "Interactive Call-to-Action URL Button Messages" documentation); ` +
		`both are added, display_text limited to 20 characters as documented`,
		apply: ctaURL},
}

// Validator checks request bodies; it is safe for concurrent use.
type Validator struct {
	message *jsonschema.Schema
	// byType are the schemas Message's discriminator maps "type" to, so
	// a bad body is reported against its own type's schema rather than
	// against all eleven oneOf branches.
	byType map[string]*jsonschema.Schema
}

// New compiles the embedded schemas with all Rewrites applied.
func New() (*Validator, error) { return NewWith(Rewrites) }

// NewWith compiles the embedded schemas with only the given rewrites
// (tests use it to show each rewrite is needed).
func NewWith(rewrites []Rewrite) (*Validator, error) {
	doc, err := jsonschema.UnmarshalJSON(bytes.NewReader(schemasJSON))
	if err != nil {
		return nil, fmt.Errorf("metaschema: %w", err)
	}
	schemas, ok := dig(doc, "components", "schemas").(map[string]any)
	if !ok {
		return nil, errors.New("metaschema: schemas.json has no components.schemas")
	}
	// Set-asides first, so "discriminator" sees the mapping
	// "location-header" adds.
	for _, aside := range []bool{true, false} {
		for _, r := range rewrites {
			if r.SetAside != aside {
				continue
			}
			if err := r.apply(schemas); err != nil {
				return nil, fmt.Errorf("metaschema: rewrite %s: %w", r.Name, err)
			}
		}
	}
	c := jsonschema.NewCompiler()
	c.DefaultDraft(jsonschema.Draft2020)
	const url = "https://graph.facebook.com/openapi/business-messaging-api_v23.0.json" // netscope: schema identifier, never fetched
	if err := c.AddResource(url, doc); err != nil {
		return nil, fmt.Errorf("metaschema: %w", err)
	}
	msg, err := c.Compile(url + "#/components/schemas/Message")
	if err != nil {
		return nil, fmt.Errorf("metaschema: compile Message: %w", err)
	}
	v := &Validator{message: msg, byType: map[string]*jsonschema.Schema{}}
	mapping, _ := dig(schemas, "Message", "discriminator", "mapping").(map[string]any)
	for typ, ref := range mapping {
		r, _ := ref.(string)
		if v.byType[typ], err = c.Compile(url + r); err != nil {
			return nil, fmt.Errorf("metaschema: compile %s: %w", r, err)
		}
	}
	return v, nil
}

// Types are the message types Meta's Message schema knows.
func (v *Validator) Types() []string {
	out := make([]string, 0, len(v.byType))
	for t := range v.byType {
		out = append(out, t)
	}
	slices.Sort(out)
	return out
}

// Message validates a POST /{phone-number-id}/messages body against
// Meta's Message schema. The error names the offending JSON path and rule.
func (v *Validator) Message(body []byte) error {
	inst, err := jsonschema.UnmarshalJSON(bytes.NewReader(body))
	if err != nil {
		return fmt.Errorf("not JSON: %w", err)
	}
	sch, what := v.message, "Message"
	if m, ok := inst.(map[string]any); ok {
		typ, _ := m["type"].(string)
		if s, ok := v.byType[typ]; ok {
			sch, what = s, typ+" message"
		} else if m["type"] != nil {
			return fmt.Errorf("type %q is not one of Meta's message types (%s)", typ, strings.Join(v.Types(), ", "))
		}
	}
	if err := sch.Validate(inst); err != nil {
		return fmt.Errorf("does not match Meta's %s schema: %w", what, err)
	}
	return nil
}

// Short renders a validation error on one line: the innermost failures
// with their instance paths ("/template/components/0/index: does not
// match pattern …"), for an API error message.
func Short(err error) string {
	var ve *jsonschema.ValidationError
	if !errors.As(err, &ve) {
		return err.Error()
	}
	pr := message.NewPrinter(language.English)
	var out []string
	var walk func(e *jsonschema.ValidationError)
	walk = func(e *jsonschema.ValidationError) {
		if len(e.Causes) == 0 {
			out = append(out, "/"+strings.Join(e.InstanceLocation, "/")+": "+e.ErrorKind.LocalizedString(pr))
			return
		}
		for _, c := range e.Causes {
			walk(c)
		}
	}
	walk(ve)
	slices.Sort(out)
	out = slices.Compact(out)
	if len(out) > 4 {
		out = append(out[:4], fmt.Sprintf("and %d more", len(out)-4))
	}
	return strings.Join(out, "; ")
}

func dig(v any, keys ...string) any {
	for _, k := range keys {
		m, ok := v.(map[string]any)
		if !ok {
			return nil
		}
		v = m[k]
	}
	return v
}

func obj(schemas map[string]any, path ...string) (map[string]any, error) {
	m, ok := dig(schemas, path...).(map[string]any)
	if !ok {
		return nil, fmt.Errorf("no object at %s", strings.Join(path, "."))
	}
	return m, nil
}

const refPrefix = "#/components/schemas/"

func allOfUnevaluated(schemas map[string]any) error {
	n := 0
	for _, s := range schemas {
		m, ok := s.(map[string]any)
		if !ok {
			continue
		}
		parts, _ := m["allOf"].([]any)
		for _, p := range parts {
			pm, ok := p.(map[string]any)
			if !ok {
				continue
			}
			if ap, ok := pm["additionalProperties"].(bool); ok && !ap {
				delete(pm, "additionalProperties")
				m["unevaluatedProperties"] = false
				n++
			}
		}
	}
	if n == 0 {
		return errors.New("no allOf part with additionalProperties:false")
	}
	return nil
}

// discriminators replaces each $ref to a schema with a discriminator
// mapping (and no oneOf/anyOf of its own) by a reference to a dispatching
// copy, except inside the allOf of the mapped schemas themselves (which
// extend the base and would otherwise dispatch back to themselves).
func discriminators(schemas map[string]any) error {
	type disp struct {
		prop    string
		mapping map[string]any
	}
	bases := map[string]disp{}
	for name, s := range schemas {
		m, _ := s.(map[string]any)
		d, _ := m["discriminator"].(map[string]any)
		mp, _ := d["mapping"].(map[string]any)
		prop, _ := d["propertyName"].(string)
		if mp == nil || prop == "" || m["oneOf"] != nil || m["anyOf"] != nil {
			continue
		}
		bases[name] = disp{prop, mp}
	}
	if len(bases) == 0 {
		return errors.New("no discriminator without oneOf")
	}
	// Mapped schemas' own allOf references to their base stay as they are.
	skip := map[string]bool{} // mapped schema name
	for _, d := range bases {
		for _, r := range d.mapping {
			skip[strings.TrimPrefix(r.(string), refPrefix)] = true
		}
	}
	var walk func(v any, inMapped bool)
	walk = func(v any, inMapped bool) {
		switch x := v.(type) {
		case map[string]any:
			if r, ok := x["$ref"].(string); ok && !inMapped {
				if _, ok := bases[strings.TrimPrefix(r, refPrefix)]; ok {
					x["$ref"] = r + "__dispatch"
				}
			}
			for _, c := range x {
				walk(c, false)
			}
		case []any:
			for _, c := range x {
				walk(c, inMapped)
			}
		}
	}
	for name, s := range schemas {
		m, _ := s.(map[string]any)
		if skip[name] {
			if parts, ok := m["allOf"].([]any); ok {
				for _, p := range parts {
					walk(p, true)
				}
				for k, c := range m {
					if k != "allOf" {
						walk(c, false)
					}
				}
				continue
			}
		}
		walk(s, false)
	}
	for name, d := range bases {
		var branches []any
		keys := make([]string, 0, len(d.mapping))
		for k := range d.mapping {
			keys = append(keys, k)
		}
		slices.Sort(keys)
		for _, k := range keys {
			branches = append(branches, map[string]any{
				"if":   map[string]any{"properties": map[string]any{d.prop: map[string]any{"const": k}}, "required": []any{d.prop}},
				"then": map[string]any{"$ref": d.mapping[k]},
			})
		}
		schemas[name+"__dispatch"] = map[string]any{"$ref": refPrefix + name, "allOf": branches}
	}
	return nil
}

func callbackData(schemas map[string]any) error {
	props, err := obj(schemas, "BaseMessageProperties", "properties")
	if err != nil {
		return err
	}
	props["biz_opaque_callback_data"] = map[string]any{"type": "string", "maxLength": json.Number("512")}
	return nil
}

func buttonIndex(schemas map[string]any) error {
	for _, path := range [][]string{{"TemplateComponent", "properties", "index"}} {
		p, err := obj(schemas, path...)
		if err != nil {
			return err
		}
		p["pattern"] = "^[0-9]$"
	}
	parts, _ := dig(schemas, "ButtonComponent", "allOf").([]any)
	for _, part := range parts {
		if p, ok := dig(part, "properties", "index").(map[string]any); ok {
			p["pattern"] = "^[0-9]$"
			return nil
		}
	}
	return errors.New("ButtonComponent has no index")
}

func recipientType(schemas map[string]any) error {
	b, err := obj(schemas, "BaseMessageProperties")
	if err != nil {
		return err
	}
	req, _ := b["required"].([]any)
	b["required"] = slices.DeleteFunc(slices.Clone(req), func(v any) bool { return v == "recipient_type" })
	if len(b["required"].([]any)) == len(req) {
		return errors.New("recipient_type is not required")
	}
	return nil
}

func languagePolicy(schemas map[string]any) error {
	l, err := obj(schemas, "LanguageObject")
	if err != nil {
		return err
	}
	l["required"] = []any{"code"}
	return nil
}

func locationNumber(schemas map[string]any) error {
	parts, _ := dig(schemas, "LocationMessage", "allOf").([]any)
	for _, part := range parts {
		props, ok := dig(part, "properties", "location", "properties").(map[string]any)
		if !ok {
			continue
		}
		for _, k := range []string{"latitude", "longitude"} {
			p, ok := props[k].(map[string]any)
			if !ok {
				return fmt.Errorf("LocationMessage has no %s", k)
			}
			p["type"] = []any{"number", "string"}
		}
		return nil
	}
	return errors.New("LocationMessage has no location")
}

func locationHeader(schemas map[string]any) error {
	p, err := obj(schemas, "ParameterObject", "properties", "type")
	if err != nil {
		return err
	}
	enum, _ := p["enum"].([]any)
	p["enum"] = append(enum, "location")
	mp, err := obj(schemas, "ParameterObject", "discriminator", "mapping")
	if err != nil {
		return err
	}
	mp["location"] = refPrefix + "LocationParameter__pbxgate"
	schemas["LocationParameter__pbxgate"] = map[string]any{
		"type": "object", "required": []any{"type", "location"},
		"properties": map[string]any{
			"type": map[string]any{"const": "location"},
			"location": map[string]any{"type": "object", "required": []any{"latitude", "longitude"},
				"additionalProperties": false,
				"properties": map[string]any{
					"latitude": map[string]any{"type": []any{"number", "string"}}, "longitude": map[string]any{"type": []any{"number", "string"}},
					"name": map[string]any{"type": "string"}, "address": map[string]any{"type": "string"},
				}},
		},
	}
	return nil
}

func copyCode(schemas map[string]any) error {
	addEnum := func(p map[string]any, v string) error {
		enum, ok := p["enum"].([]any)
		if !ok {
			return errors.New("no enum")
		}
		p["enum"] = append(enum, v)
		return nil
	}
	st, err := obj(schemas, "TemplateComponent", "properties", "sub_type")
	if err != nil {
		return err
	}
	if err := addEnum(st, "copy_code"); err != nil {
		return err
	}
	parts, _ := dig(schemas, "ButtonComponent", "allOf").([]any)
	found := false
	for _, part := range parts {
		if p, ok := dig(part, "properties", "sub_type").(map[string]any); ok {
			if err := addEnum(p, "copy_code"); err != nil {
				return err
			}
			found = true
		}
	}
	if !found {
		return errors.New("ButtonComponent has no sub_type")
	}
	bt, err := obj(schemas, "ButtonParameterObject", "properties", "type")
	if err != nil {
		return err
	}
	if err := addEnum(bt, "coupon_code"); err != nil {
		return err
	}
	mp, err := obj(schemas, "ButtonParameterObject", "discriminator", "mapping")
	if err != nil {
		return err
	}
	mp["coupon_code"] = refPrefix + "ButtonCouponParameter__pbxgate"
	schemas["ButtonCouponParameter__pbxgate"] = map[string]any{
		"type": "object", "required": []any{"type", "coupon_code"},
		"properties": map[string]any{
			"type":        map[string]any{"const": "coupon_code"},
			"coupon_code": map[string]any{"type": "string", "minLength": json.Number("1"), "maxLength": json.Number("15")},
		},
	}
	return nil
}

// ctaURL adds the interactive call-to-action URL message (Meta's
// documentation: interactive.type "cta_url", action.name "cta_url",
// action.parameters.display_text (≤ 20 characters) and url).
func ctaURL(schemas map[string]any) error {
	typ, err := obj(schemas, "InteractiveObject", "properties", "type")
	if err != nil {
		return err
	}
	enum, ok := typ["enum"].([]any)
	if !ok {
		return errors.New("InteractiveObject.type has no enum")
	}
	typ["enum"] = append(enum, "cta_url")
	action, err := obj(schemas, "ActionObject")
	if err != nil {
		return err
	}
	branches, ok := action["oneOf"].([]any)
	if !ok {
		return errors.New("ActionObject has no oneOf")
	}
	action["oneOf"] = append(branches, map[string]any{
		"required":             []any{"name", "parameters"},
		"additionalProperties": false,
		"properties": map[string]any{
			"name": map[string]any{"type": "string", "enum": []any{"cta_url"}},
			"parameters": map[string]any{
				"type":                 "object",
				"required":             []any{"display_text", "url"},
				"additionalProperties": false,
				"properties": map[string]any{
					"display_text": map[string]any{"type": "string", "minLength": 1, "maxLength": 20},
					"url":          map[string]any{"type": "string", "minLength": 1},
				},
			},
		},
	})
	return nil
}
