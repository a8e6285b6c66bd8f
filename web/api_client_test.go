package web

import (
	"bytes"
	"context"
	"encoding/json"
	"io"
	"mime/multipart"
	"strings"
	"testing"

	"github.com/pbxgate/pbxgate/web/app"
)

// apiClient calls /api/v1 with one user's bearer token.
type apiClient struct {
	t   *testing.T
	c   *client
	tok string
}

// newAPIEnv finishes setup and returns API clients for the admin and for
// the operator "olga".
func newAPIEnv(t *testing.T, opts ...envOption) (env *testEnv, admin, op *apiClient) {
	t.Helper()
	env = newEnv(t, opts...)
	env.client().setup("admin password")
	ctx := context.Background()
	if err := env.users.Add(ctx, "olga", "operator password", "operator"); err != nil {
		t.Fatal(err)
	}
	return env, env.apiClient("admin"), env.apiClient("olga")
}

func (e *testEnv) apiClient(user string) *apiClient {
	e.t.Helper()
	tok, err := e.users.CreateToken(context.Background(), user, "test")
	if err != nil {
		e.t.Fatal(err)
	}
	return &apiClient{t: e.t, c: e.client(), tok: tok}
}

// call sends body (a JSON string, or nil) to /api/v1+path; contentType
// overrides application/json.
func (a *apiClient) call(method, path, body string, contentType ...string) resp {
	a.t.Helper()
	hdr := map[string]string{"Authorization": "Bearer " + a.tok}
	var r io.Reader
	if body != "" {
		r = strings.NewReader(body)
		hdr["Content-Type"] = "application/json"
	}
	if len(contentType) > 0 {
		hdr["Content-Type"] = contentType[0]
	}
	return a.c.do(method, "/api/v1"+path, r, hdr)
}

// ok sends the request, wants status want and decodes the answer into out
// (when not nil).
func (a *apiClient) ok(method, path, body string, want int, out any) resp {
	a.t.Helper()
	r := a.call(method, path, body)
	if r.code != want {
		a.t.Fatalf("%s %s: %d, want %d\n%s", method, path, r.code, want, r.body)
	}
	if out != nil {
		if err := json.Unmarshal([]byte(r.body), out); err != nil {
			a.t.Fatalf("%s %s: %v\n%s", method, path, err, r.body)
		}
	}
	return r
}

// apiErr is the API's one error shape.
type apiErr struct {
	Error struct{ Code, Message, Field string } `json:"error"`
}

// wantAPIError checks the status and the error's code and field.
func wantAPIError(t *testing.T, r resp, status int, code, field string) {
	t.Helper()
	var e apiErr
	if err := json.Unmarshal([]byte(r.body), &e); err != nil || r.code != status || e.Error.Code != code || e.Error.Field != field || e.Error.Message == "" {
		t.Fatalf("got %d %s; want %d with code %q, field %q and a message", r.code, r.body, status, code, field)
	}
}

// auditHas reports whether the audit log has action on target.
func (e *testEnv) auditHas(action, target string) bool {
	for _, a := range (&app.Server{D: app.Deps{Store: e.store}}).RecentAudit(1000) {
		if a.Action == action && (target == "" || a.Target == target) {
			return true
		}
	}
	return false
}

// upload posts fields and file (multipart field "file") to /api/v1+path.
func (a *apiClient) upload(path string, fields map[string]string, file []byte) resp {
	a.t.Helper()
	body, ct := fileForm(fields, file)
	return a.c.do("POST", "/api/v1"+path, body, map[string]string{"Authorization": "Bearer " + a.tok, "Content-Type": ct})
}

// fileForm is a form with fields and, unless nil, file as "file".
func fileForm(fields map[string]string, file []byte) (io.Reader, string) {
	var buf bytes.Buffer
	w := multipart.NewWriter(&buf)
	for k, v := range fields {
		w.WriteField(k, v)
	}
	if file != nil {
		fw, _ := w.CreateFormFile("file", "upload")
		fw.Write(file)
	}
	w.Close()
	return &buf, w.FormDataContentType()
}

// jsonInto decodes r into v after checking its status.
func jsonInto(t *testing.T, r resp, status int, v any) {
	t.Helper()
	if r.code != status {
		t.Fatalf("status %d, want %d\n%s", r.code, status, r.body)
	}
	if err := json.Unmarshal([]byte(r.body), v); err != nil {
		t.Fatalf("%v\n%s", err, r.body)
	}
}
