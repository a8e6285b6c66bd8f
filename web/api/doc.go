// Package api is pbxgate's REST API under /api/v1: JSON in and out, one
// error shape, the same roles as the portal. Its routes are in the web
// package's route table (web/routes.go) and documented in openapi.json.
package api

import "github.com/pbxgate/pbxgate/web/app"

// API holds the API's handlers; they share the portal's state (app.Server).
type API struct{ *app.Server }
