package whatsapp

import "encoding/json"

// RequestBody is the JSON body the client posts for m to recipient to
// with callback data cb, or the reason it refuses m (tests).
func RequestBody(m Message, to, cb string) ([]byte, error) {
	r, err := m.request(normalizeTo(to), cb)
	if err != nil {
		return nil, err
	}
	return json.Marshal(r)
}
