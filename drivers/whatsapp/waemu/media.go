package waemu

import (
	"crypto/sha256"
	"encoding/hex"
	"fmt"
	"io"
	"net/http"
	"net/url"
	"strconv"
	"time"
)

// maxMedia is Meta's largest media (documents, 100 MB).
const maxMedia = 100 << 20

// mediaURLLifetime is how long a retrieved media URL works.
const mediaURLLifetime = 5 * time.Minute

type mediaObject struct {
	id       string
	mimeType string
	data     []byte
	sha256   string
	// urlToken/urlExpiry: the short-lived download URL.
	urlToken  string
	urlExpiry time.Time
}

// AddMedia stores media as if a user had sent it (for injected inbound
// image messages) and returns its id.
func (s *Server) AddMedia(mimeType string, data []byte) string {
	sum := sha256.Sum256(data)
	m := &mediaObject{id: fmt.Sprint(1_000_000_000_000 + s.o.Now().UnixNano()%1_000_000_000_000), mimeType: mimeType,
		data: append([]byte(nil), data...), sha256: hex.EncodeToString(sum[:])}
	s.mu.Lock()
	for s.media[m.id] != nil {
		m.id += "1"
	}
	s.media[m.id] = m
	s.mu.Unlock()
	return m.id
}

func (s *Server) uploadMedia(w http.ResponseWriter, r *http.Request) {
	if err := r.ParseMultipartForm(32 << 20); err != nil {
		s.reject(w, badParam("media upload must be multipart/form-data: %v", err))
		return
	}
	defer r.MultipartForm.RemoveAll()
	if r.FormValue("messaging_product") != "whatsapp" {
		s.reject(w, refuse(100, "(#100) The parameter messaging_product is required.", ""))
		return
	}
	f, fh, err := r.FormFile("file")
	if err != nil {
		s.reject(w, refuse(100, "(#100) The parameter file is required.", ""))
		return
	}
	defer f.Close()
	data, err := io.ReadAll(io.LimitReader(f, maxMedia+1))
	if err != nil || len(data) > maxMedia || len(data) == 0 {
		s.reject(w, refuse(131053, "(#131053) Media upload error", "file is empty, unreadable or larger than 100 MB"))
		return
	}
	typ := r.FormValue("type")
	if typ == "" {
		typ = fh.Header.Get("Content-Type")
	}
	if typ == "" {
		s.reject(w, refuse(100, "(#100) The parameter type is required.", ""))
		return
	}
	id := s.AddMedia(typ, data)
	writeJSON(w, http.StatusOK, map[string]string{"id": id})
}

// mediaInfo answers GET /{media-id} with a fresh short-lived URL.
func (s *Server) mediaInfo(w http.ResponseWriter, r *http.Request, id string) {
	if pn := r.URL.Query().Get("phone_number_id"); pn != "" && pn != s.o.PhoneNumberID {
		s.reject(w, badParam("media %s does not belong to phone number %s", id, pn))
		return
	}
	s.mu.Lock()
	m := s.media[id]
	if m != nil {
		m.urlToken = randomID(16)
		m.urlExpiry = s.o.Now().Add(mediaURLLifetime)
	}
	var tok, mt, sum string
	var size int
	if m != nil {
		tok, mt, sum, size = m.urlToken, m.mimeType, m.sha256, len(m.data)
	}
	s.mu.Unlock()
	if m == nil {
		writeError(w, http.StatusNotFound, 100, "GraphMethodException",
			fmt.Sprintf("Unsupported get request. Object with ID '%s' does not exist, cannot be loaded due to missing permissions, or does not support this operation.", id), "")
		return
	}
	u := url.URL{Scheme: "http", Host: r.Host, Path: "/_media/" + id, RawQuery: url.Values{"token": {tok}}.Encode()}
	writeJSON(w, http.StatusOK, map[string]string{
		"messaging_product": "whatsapp", "url": u.String(), "mime_type": mt,
		"sha256": sum, "file_size": strconv.Itoa(size), "id": id,
	})
}

// downloadMedia serves the bytes behind a short-lived URL (bearer checked
// by the caller).
func (s *Server) downloadMedia(w http.ResponseWriter, r *http.Request, id string) {
	s.mu.Lock()
	m := s.media[id]
	ok := m != nil && m.urlToken != "" && r.URL.Query().Get("token") == m.urlToken && s.o.Now().Before(m.urlExpiry)
	var data []byte
	var mt string
	if ok {
		data, mt = m.data, m.mimeType
	}
	s.mu.Unlock()
	if !ok {
		http.Error(w, "URL expired or invalid: retrieve the media URL again", http.StatusNotFound)
		return
	}
	w.Header().Set("Content-Type", mt)
	w.Header().Set("Content-Length", strconv.Itoa(len(data)))
	w.Write(data)
}
