package app

// RouteLimit is BodyLimit, except that Meta's notifications to the
// WhatsApp webhook may be as large as whatsapp.webhook_max_bytes (default
// 3 MiB): Meta retries a refused notification for days and then drops it.
// The WhatsApp handler enforces that limit itself too.
func (s *Server) RouteLimit(method, route string) int64 {
	limit := BodyLimit(method, route)
	if wa := s.D.WhatsApp; wa != nil && wa.WebhookPath != "" && route == wa.WebhookPath {
		limit = max(limit, wa.WebhookMaxBytes)
	}
	return limit
}
