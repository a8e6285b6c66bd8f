package web

import (
	"context"
	"net/http"
	"strings"
	"testing"

	"github.com/pbxgate/pbxgate/web/api"
	"github.com/pbxgate/pbxgate/web/app"

	"github.com/pbxgate/pbxgate/gateway/store"
	"github.com/pbxgate/pbxgate/gateway/users"
)

func TestAPIUsers(t *testing.T) {
	t.Parallel()
	env, admin, op := newAPIEnv(t)
	ctx := context.Background()

	// Operators manage no users.
	wantAPIError(t, op.call("PUT", "/users/olga/role", `{"role":"admin"}`), http.StatusForbidden, "forbidden", "")
	wantAPIError(t, op.call("DELETE", "/users/admin", ""), http.StatusForbidden, "forbidden", "")
	wantAPIError(t, op.call("PUT", "/users/admin/password", `{"password":"taken over!!"}`), http.StatusForbidden, "forbidden", "")

	var u users.User
	admin.ok("PUT", "/users/olga/role", `{"role":"admin"}`, http.StatusOK, &u)
	if u.Name != "olga" || u.Role != users.RoleAdmin {
		t.Fatalf("role: %+v", u)
	}
	wantAPIError(t, admin.call("PUT", "/users/olga/role", `{"role":"boss"}`), http.StatusUnprocessableEntity, "invalid", "role")
	wantAPIError(t, admin.call("PUT", "/users/nobody/role", `{"role":"operator"}`), http.StatusNotFound, "not_found", "")
	admin.ok("PUT", "/users/olga/role", `{"role":"operator"}`, http.StatusOK, nil)
	// The last admin stays.
	wantAPIError(t, admin.call("PUT", "/users/admin/role", `{"role":"operator"}`), http.StatusConflict, "last_admin", "")
	wantAPIError(t, admin.call("DELETE", "/users/admin", ""), http.StatusConflict, "last_admin", "")
	if !env.auditHas("user.role", "olga") {
		t.Fatal("the role change is not in the audit log")
	}

	// A reset password works, a short one is refused at its field.
	wantAPIError(t, admin.call("PUT", "/users/olga/password", `{"password":"short"}`), http.StatusUnprocessableEntity, "weak_password", "password")
	wantAPIError(t, admin.call("PUT", "/users/nobody/password", `{"password":"long enough pw"}`), http.StatusNotFound, "not_found", "")
	r := admin.ok("PUT", "/users/olga/password", `{"password":"new operator pw"}`, http.StatusOK, nil)
	if strings.Contains(r.body, "hash") || strings.Contains(r.body, "argon2") {
		t.Fatalf("the answer carries the hash: %s", r.body)
	}
	if _, err := env.users.Authenticate(ctx, "olga", "new operator pw"); err != nil {
		t.Fatal("the reset password does not work")
	}

	// Deleting a user revokes the user's tokens.
	admin.ok("DELETE", "/users/olga", "", http.StatusNoContent, nil)
	wantAPIError(t, admin.call("DELETE", "/users/olga", ""), http.StatusNotFound, "not_found", "")
	wantAPIError(t, op.call("GET", "/me", ""), http.StatusUnauthorized, "unauthorized", "")
	if !env.auditHas("user.delete", "olga") {
		t.Fatal("the deletion is not in the audit log")
	}
}

func TestAPIOwnPassword(t *testing.T) {
	t.Parallel()
	env, _, op := newAPIEnv(t)
	ctx := context.Background()
	wantAPIError(t, op.call("PUT", "/me/password", `{"current_password":"wrong","password":"a new password"}`),
		http.StatusUnprocessableEntity, "wrong_password", "current_password")
	wantAPIError(t, op.call("PUT", "/me/password", `{"current_password":"operator password","password":"short"}`),
		http.StatusUnprocessableEntity, "weak_password", "password")
	var u users.User
	op.ok("PUT", "/me/password", `{"current_password":"operator password","password":"a new password"}`, http.StatusOK, &u)
	if u.Name != "olga" {
		t.Fatalf("answer: %+v", u)
	}
	if _, err := env.users.Authenticate(ctx, "olga", "a new password"); err != nil {
		t.Fatal("the new password does not work")
	}
	if !env.auditHas("user.password", "olga") {
		t.Fatal("the change is not in the audit log")
	}
}

func TestAPISettingsAuditBackup(t *testing.T) {
	t.Parallel()
	env, admin, op := newAPIEnv(t)
	var reg api.RegionJSON
	op.ok("GET", "/settings", "", http.StatusOK, &reg)
	if reg != (api.RegionJSON{Language: "en", DefaultCountry: "DE", TimeZone: "Europe/Berlin"}) {
		t.Fatalf("settings after setup: %+v", reg)
	}
	body := `{"language":"de","default_country":"at","time_zone":"Europe/Vienna"}`
	wantAPIError(t, op.call("PUT", "/settings", body), http.StatusForbidden, "forbidden", "")
	wantAPIError(t, admin.call("PUT", "/settings", `{"default_country":"Austria","time_zone":"Europe/Vienna"}`), http.StatusUnprocessableEntity, "invalid", "default_country")
	wantAPIError(t, admin.call("PUT", "/settings", `{"default_country":"AT","time_zone":"Mars/Olympus"}`), http.StatusUnprocessableEntity, "invalid", "time_zone")
	wantAPIError(t, admin.call("PUT", "/settings", `{"language":"fr","default_country":"AT","time_zone":"Europe/Vienna"}`), http.StatusUnprocessableEntity, "invalid", "language")
	admin.ok("PUT", "/settings", body, http.StatusOK, &reg)
	if reg != (api.RegionJSON{Language: "de", DefaultCountry: "AT", TimeZone: "Europe/Vienna"}) {
		t.Fatalf("settings: %+v", reg)
	}
	if st, _ := app.LoadSettings(env.store); st.DefaultCountry != "AT" || st.TimeZone != "Europe/Vienna" || st.Language != "de" {
		t.Fatalf("stored settings: %+v", st)
	}

	// The audit log, newest first, paged; admins only.
	wantAPIError(t, op.call("GET", "/audit", ""), http.StatusForbidden, "forbidden", "")
	var audit app.Page[app.AuditEntry]
	admin.ok("GET", "/audit?limit=1", "", http.StatusOK, &audit)
	if audit.Total < 1 || len(audit.Items) != 1 || audit.Items[0].Action != "settings.region" || audit.Items[0].User != "admin" {
		t.Fatalf("audit: %+v", audit)
	}

	// The backup is the store's, as the portal's download.
	wantAPIError(t, op.call("GET", "/backup", ""), http.StatusForbidden, "forbidden", "")
	r := admin.call("GET", "/backup", "")
	if r.code != http.StatusOK || !strings.Contains(r.header.Get("Content-Disposition"), "pbxgate-backup-") || len(r.body) == 0 {
		t.Fatalf("backup: %d %v", r.code, r.header)
	}
	dir := t.TempDir() + "/restored"
	if err := store.Restore(context.Background(), dir, strings.NewReader(r.body), nil); err != nil {
		t.Fatal(err)
	}
	st, err := store.Open(store.Options{Dir: dir})
	if err != nil {
		t.Fatal(err)
	}
	defer st.Close()
	if got, err := app.LoadSettings(st); err != nil || got.DefaultCountry != "AT" {
		t.Fatalf("restored settings: %+v %v", got, err)
	}
	if !env.auditHas("backup.download", "") {
		t.Fatal("the download is not in the audit log")
	}
}
