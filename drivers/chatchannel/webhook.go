package chatchannel

import "net/http"

// MaxWebhookBody is the largest webhook call a channel reads (1 MiB).
const MaxWebhookBody = 1 << 20

// PostOnly answers anything but POST with 405 and reports whether r is a
// POST.
func PostOnly(w http.ResponseWriter, r *http.Request) bool {
	if r.Method == http.MethodPost {
		return true
	}
	w.Header().Set("Allow", http.MethodPost)
	http.Error(w, "POST only", http.StatusMethodNotAllowed)
	return false
}

// NotStored answers a webhook call whose content could not be stored:
// 503, so the platform sends it again.
func NotStored(w http.ResponseWriter) {
	http.Error(w, "not stored, try again", http.StatusServiceUnavailable)
}
