// Package screens is the administrators' portal: the server-rendered
// pages (German and English) and their forms. Its routes are in the web
// package's route table (web/routes.go); templates, rendering, sessions
// and the shared helpers are in web/app.
package screens

import "github.com/pbxgate/pbxgate/web/app"

// Screens holds the portal's page handlers; they share the portal's state
// (app.Server).
type Screens struct{ *app.Server }
