// Package app is what the portal's screens (web/screens) and the REST API
// (web/api) share: the server state (Server: dependencies, settings,
// catalog, sessions), authentication and CSRF middleware, page rendering
// (templates and assets are embedded here), the JSON error and paging
// helpers, the service interfaces the daemon implements (Deps) and the
// actions both faces perform (audit, campaign actions, contact imports…).
package app
