package web

import (
	"net/http"

	"github.com/pbxgate/pbxgate/web/api"
	"github.com/pbxgate/pbxgate/web/app"
	"github.com/pbxgate/pbxgate/web/screens"
)

// Server wires the portal's shared state (app) to the screens and the
// API; the route table (routes.go) names their handlers.
type server struct {
	*app.Server
	*api.API
	*screens.Screens
}

func newServer(d Deps) (*server, error) {
	a, err := app.NewServer(d)
	if err != nil {
		return nil, err
	}
	return &server{Server: a, API: &api.API{Server: a}, Screens: &screens.Screens{Server: a}}, nil
}

func (s *server) handler() http.Handler {
	// CrossOriginProtection rejects cross-site non-safe requests by
	// Sec-Fetch-Site/Origin; the per-session token (requireCSRF) covers
	// old browsers that send neither.
	cop := http.NewCrossOriginProtection()
	cop.SetDenyHandler(http.HandlerFunc(func(w http.ResponseWriter, r *http.Request) {
		app.WriteJSONError(w, http.StatusForbidden, "csrf", "cross-origin request rejected", "")
	}))
	return cop.Handler(s.engine())
}
