// Command gen copies the request, response and webhook examples the tests
// use out of Meta's OpenAPI description (facebook/openapi,
// business-messaging-api_v23.0.yaml, MIT) into testdata as JSON, so the tests
// never need the 1 MB YAML. It lives under testdata so `go build ./...` and
// `go vet ./...` skip it. Run from the repository root:
//
//	go run ./drivers/whatsapp/testdata/gen ../shared/whatsapp/business-messaging-api_v23.0.yaml
package main

import (
	"encoding/json"
	"fmt"
	"os"
	"path/filepath"
	"regexp"
	"strings"

	"gopkg.in/yaml.v3"
)

const out = "drivers/whatsapp/testdata"

// Request examples for the message types the client builds.
var requests = []string{
	"Send Text Message",
	"Send Reply to Text Message",
	"Send Image Message by ID",
	"Send Image Message by URL",
	"Send Document Message by ID",
	"Send Document Message by URL",
	"Send Video Message by ID",
	"Send Video Message by URL",
	"Send Audio Message by ID",
	"Send Audio Message by URL",
	"Send Location Message",
	"Send Message Template Text",
	"Send Message Template Media",
	"Send Message Template Interactive",
	"Send Test Message",
}

func main() {
	if len(os.Args) != 2 {
		fmt.Fprintln(os.Stderr, "usage: gen PATH/business-messaging-api_v23.0.yaml")
		os.Exit(2)
	}
	data, err := os.ReadFile(os.Args[1])
	check(err)
	var doc map[string]any
	check(yaml.Unmarshal(data, &doc))
	paths := doc["paths"].(map[string]any)

	msgs := paths["/{Version}/{Phone-Number-ID}/messages"].(map[string]any)["post"].(map[string]any)
	reqEx := dig(msgs, "requestBody", "content", "application/json", "examples").(map[string]any)
	for _, name := range requests {
		write("requests", name, dig(reqEx, name, "value"))
	}
	respEx := dig(msgs, "responses", "200", "content", "application/json", "examples").(map[string]any)
	write("responses", "Send Message", dig(respEx, "Example response", "value"))

	media := paths["/{Version}/{Media-ID}"].(map[string]any)["get"].(map[string]any)
	write("responses", "Retrieve Media URL", dig(media, "responses", "200", "content", "application/json", "examples", "Retrieve Media URL", "value"))
	upload := paths["/{Version}/{Phone-Number-ID}/media"].(map[string]any)["post"].(map[string]any)
	write("responses", "Upload Media", dig(upload, "responses", "200", "content", "application/json", "examples", "Upload Image JSON", "value"))
	tpl := paths["/{Version}/{WABA-ID}/message_templates"].(map[string]any)["get"].(map[string]any)
	write("responses", "Message Templates", dig(tpl, "responses", "200", "content", "application/json", "examples", "Example response", "value"))

	// Template creation: the examples of plain templates (flows, catalogs
	// and authentication templates pbxgate does not create).
	create := tpl0(paths)
	tpls := map[string]any{}
	for name, ex := range dig(create, "requestBody", "content", "application/json", "examples").(map[string]any) {
		if strings.HasPrefix(name, "Create template w/") {
			tpls[name] = ex.(map[string]any)["value"]
		}
	}
	tpls["Create template response"] = dig(create, "responses", "200", "content", "application/json", "examples", "Example response", "value")
	del := paths["/{Version}/{WABA-ID}/message_templates"].(map[string]any)["delete"].(map[string]any)
	tpls["Delete template response"] = dig(del, "responses", "200", "content", "application/json", "examples", "Example response", "value")
	// Template editing (POST /{template-id}): Meta's example, its answer
	// and the request schema the client's edit bodies are checked against.
	edit := paths["/{Version}/{TEMPLATE_ID}"].(map[string]any)["post"].(map[string]any)
	tpls["Edit template"] = dig(edit, "requestBody", "content", "application/json", "examples", "Edit template", "value")
	tpls["Edit template schema"] = dig(edit, "requestBody", "content", "application/json", "schema")
	tpls["Edit template response"] = dig(edit, "responses", "200", "content", "application/json", "examples", "Example response", "value")
	tb, err := yaml.Marshal(tpls)
	check(err)
	check(os.WriteFile(filepath.Join(out, "template_examples.yaml"),
		append([]byte("# netscope:file Meta's published template-creation examples (business-messaging-api_v23.0.yaml); their URLs are template content, never fetched\n"), tb...), 0o644))

	schemas := dig(doc, "components", "schemas").(map[string]any)
	writeSchemas(schemas, schemaRoots)
	// Every request example of the messages call, to check the schema
	// rewrites against Meta's own examples.
	all := map[string]any{}
	for name, ex := range reqEx {
		all[name] = ex.(map[string]any)["value"]
	}
	// YAML, so the file can say that its URLs are never dialled.
	b, err := yaml.Marshal(all)
	check(err)
	head := "# netscope:file Meta's published request examples (business-messaging-api_v23.0.yaml); only validated, never sent, their URLs never fetched\n"
	check(os.MkdirAll("drivers/whatsapp/metaschema/testdata", 0o755))
	check(os.WriteFile("drivers/whatsapp/metaschema/testdata/message_examples.yaml", append([]byte(head), b...), 0o644))

	hooks := paths["/whatsapp/webhooks"].(map[string]any)["post"].(map[string]any)
	for name, ex := range dig(hooks, "requestBody", "content", "application/json", "examples").(map[string]any) {
		write("webhooks", name, ex.(map[string]any)["value"])
	}
}

// schemaRoots are the request-body schemas of the calls the client makes;
// writeSchemas copies them with everything they reference ($ref and
// discriminator mappings), unchanged, for drivers/whatsapp/metaschema.
var schemaRoots = []string{"Message"}

const schemaOut = "drivers/whatsapp/metaschema/schemas.json"

func writeSchemas(all map[string]any, roots []string) {
	keep := map[string]any{}
	var walk func(v any)
	add := func(ref string) {
		name := strings.TrimPrefix(ref, "#/components/schemas/")
		if _, ok := keep[name]; ok || name == ref {
			return
		}
		s, ok := all[name]
		if !ok {
			check(fmt.Errorf("schema %s missing", ref))
		}
		keep[name] = s
		walk(s)
	}
	walk = func(v any) {
		switch x := v.(type) {
		case map[string]any:
			for k, c := range x {
				switch {
				case k == "$ref":
					if s, ok := c.(string); ok {
						add(s)
					}
				case k == "mapping":
					if m, ok := c.(map[string]any); ok {
						for _, r := range m {
							if s, ok := r.(string); ok {
								add(s)
							}
						}
					}
				default:
					walk(c)
				}
			}
		case []any:
			for _, c := range x {
				walk(c)
			}
		}
	}
	for _, r := range roots {
		add("#/components/schemas/" + r)
	}
	b, err := json.MarshalIndent(map[string]any{
		"$comment":   "components.schemas copied unchanged from Meta's business-messaging-api_v23.0.yaml (github.com/facebook/openapi, MIT) by drivers/whatsapp/testdata/gen",
		"components": map[string]any{"schemas": keep},
	}, "", " ")
	check(err)
	check(os.MkdirAll(filepath.Dir(schemaOut), 0o755))
	check(os.WriteFile(schemaOut, append(b, '\n'), 0o644))
}

func tpl0(paths map[string]any) map[string]any {
	return paths["/{Version}/{WABA-ID}/message_templates"].(map[string]any)["post"].(map[string]any)
}

func dig(v any, keys ...string) any {
	for _, k := range keys {
		m, ok := v.(map[string]any)
		if !ok {
			panic(fmt.Sprintf("not a map at %q", k))
		}
		if v, ok = m[k]; !ok {
			panic(fmt.Sprintf("no key %q", k))
		}
	}
	return v
}

var nonWord = regexp.MustCompile(`[^a-z0-9]+`)

func write(dir, name string, v any) {
	b, err := json.MarshalIndent(v, "", "  ")
	check(err)
	file := strings.Trim(nonWord.ReplaceAllString(strings.ToLower(name), "_"), "_") + ".json"
	p := filepath.Join(out, dir, file)
	check(os.MkdirAll(filepath.Dir(p), 0o755))
	check(os.WriteFile(p, append(b, '\n'), 0o644))
}

func check(err error) {
	if err != nil {
		fmt.Fprintln(os.Stderr, "gen:", err)
		os.Exit(1)
	}
}
