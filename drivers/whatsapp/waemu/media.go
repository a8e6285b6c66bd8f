package waemu

import (
	"crypto/sha256"
	"encoding/hex"
	"fmt"
	"io"
	"mime"
	"net/http"
	"net/url"
	"strconv"
	"strings"
	"time"
)

// maxMedia is Meta's largest media (documents, 100 MB).
const maxMedia = 100 << 20

// mediaURLLifetime is how long a retrieved media URL works.
const mediaURLLifetime = 5 * time.Minute

// mediaLimits are the types Meta accepts for upload and their size limits
// (its "supported media types" table). WebP stickers: 100 KB static, 500 KB
// animated.
var mediaLimits = map[string]int{
	"audio/aac": 16 << 20, "audio/mp4": 16 << 20, "audio/mpeg": 16 << 20, "audio/amr": 16 << 20,
	"audio/ogg": 16 << 20, "audio/opus": 16 << 20,
	"application/vnd.ms-powerpoint": maxMedia, "application/msword": maxMedia,
	"application/vnd.openxmlformats-officedocument.wordprocessingml.document":   maxMedia,
	"application/vnd.openxmlformats-officedocument.presentationml.presentation": maxMedia,
	"application/vnd.openxmlformats-officedocument.spreadsheetml.sheet":         maxMedia,
	"application/pdf": maxMedia, "text/plain": maxMedia, "application/vnd.ms-excel": maxMedia,
	"image/jpeg": 5 << 20, "image/png": 5 << 20, "image/webp": 500 << 10,
	"video/mp4": 16 << 20, "video/3gpp": 16 << 20,
}

// mediaTypeList is Meta's list in its refusal's order.
const mediaTypeList = "audio/aac, audio/mp4, audio/mpeg, audio/amr, audio/ogg, audio/opus, application/vnd.ms-powerpoint, " +
	"application/msword, application/vnd.openxmlformats-officedocument.wordprocessingml.document, " +
	"application/vnd.openxmlformats-officedocument.presentationml.presentation, " +
	"application/vnd.openxmlformats-officedocument.spreadsheetml.sheet, application/pdf, text/plain, " +
	"application/vnd.ms-excel, image/jpeg, image/png, image/webp, video/mp4, video/3gpp"

// mediaLimit is the size limit of an upload of type typ starting with data.
func mediaLimit(typ string, data []byte) int {
	if typ == "image/webp" && !(len(data) > 20 && string(data[12:16]) == "VP8X" && data[20]&0x02 != 0) {
		return 100 << 10 // static sticker
	}
	return mediaLimits[typ]
}

type mediaObject struct {
	id       string
	mimeType string
	filename string
	data     []byte
	sha256   string
	// urlToken/urlExpiry: the short-lived download URL.
	urlToken  string
	urlExpiry time.Time
}

// Media is an uploaded (or added) media object as the emulator holds it.
type Media struct {
	ID       string
	MimeType string
	Filename string
	Data     []byte
	SHA256   string
}

// Media returns the media object id, for tests to check what arrived.
func (s *Server) Media(id string) (Media, bool) {
	s.mu.Lock()
	defer s.mu.Unlock()
	m := s.media[id]
	if m == nil {
		return Media{}, false
	}
	return Media{ID: m.id, MimeType: m.mimeType, Filename: m.filename, Data: append([]byte(nil), m.data...), SHA256: m.sha256}, true
}

// MediaCount is how many media objects the emulator holds.
func (s *Server) MediaCount() int {
	s.mu.Lock()
	defer s.mu.Unlock()
	return len(s.media)
}

// FailUploads makes the next media uploads fail with these error codes,
// one per upload (e.g. 131053 media upload error, 131000 something went
// wrong, 190 token expired).
func (s *Server) FailUploads(codes ...int) {
	s.mu.Lock()
	s.failUploads = append(s.failUploads, codes...)
	s.mu.Unlock()
}

// AddMedia stores media as if a user had sent it (for injected inbound
// image messages) and returns its id.
func (s *Server) AddMedia(mimeType string, data []byte) string {
	return s.addMedia(mimeType, "", data)
}

func (s *Server) addMedia(mimeType, filename string, data []byte) string {
	sum := sha256.Sum256(data)
	m := &mediaObject{id: fmt.Sprint(1_000_000_000_000 + s.o.Now().UnixNano()%1_000_000_000_000), mimeType: mimeType,
		filename: filename, data: append([]byte(nil), data...), sha256: hex.EncodeToString(sum[:])}
	s.mu.Lock()
	for s.media[m.id] != nil {
		m.id += "1"
	}
	s.media[m.id] = m
	s.mu.Unlock()
	return m.id
}

// uploadMedia takes POST /{phone-number-id}/media: multipart with
// messaging_product, type and file, read as a stream. The type must be one
// Meta accepts and the file within that type's limit.
func (s *Server) uploadMedia(w http.ResponseWriter, r *http.Request) {
	mr, err := r.MultipartReader()
	if err != nil {
		s.reject(w, badParam("media upload must be multipart/form-data: %v", err))
		return
	}
	var product, typ, partType, filename string
	var data []byte
	haveFile := false
	for {
		p, err := mr.NextPart()
		if err == io.EOF {
			break
		}
		if err != nil {
			s.reject(w, badParam("media upload: unreadable multipart body: %v", err))
			return
		}
		switch p.FormName() {
		case "messaging_product", "type":
			v, _ := io.ReadAll(io.LimitReader(p, 1024))
			if p.FormName() == "type" {
				typ = strings.TrimSpace(string(v))
			} else {
				product = string(v)
			}
		case "file":
			haveFile, filename, partType = true, p.FileName(), p.Header.Get("Content-Type")
			data, err = io.ReadAll(io.LimitReader(p, maxMedia+1))
			if err != nil {
				s.reject(w, refuse(131053, "(#131053) Media upload error", "file is unreadable: "+err.Error()))
				return
			}
		}
		p.Close()
	}
	if product != "whatsapp" {
		s.reject(w, refuse(100, "(#100) The parameter messaging_product is required.", ""))
		return
	}
	if !haveFile {
		s.reject(w, refuse(100, "(#100) The parameter file is required.", ""))
		return
	}
	if typ == "" {
		typ = partType
	}
	if typ == "" {
		s.reject(w, refuse(100, "(#100) The parameter type is required.", ""))
		return
	}
	if mt, _, err := mime.ParseMediaType(typ); err == nil {
		typ = mt
	}
	if _, ok := mediaLimits[typ]; !ok {
		s.reject(w, refuse(100, fmt.Sprintf("(#100) Param file must be a file with one of the following types: %s. Received file of type '%s'.", mediaTypeList, typ), ""))
		return
	}
	if len(data) == 0 {
		s.reject(w, refuse(131053, "(#131053) Media upload error", "file is empty"))
		return
	}
	if limit := mediaLimit(typ, data); len(data) > limit {
		s.reject(w, refuse(131053, "(#131053) Media upload error",
			fmt.Sprintf("file is larger than the %d bytes allowed for %s", limit, typ)))
		return
	}
	s.mu.Lock()
	var fail int
	if len(s.failUploads) > 0 {
		fail, s.failUploads = s.failUploads[0], s.failUploads[1:]
	}
	s.mu.Unlock()
	if fail != 0 {
		s.reject(w, injected(fail))
		return
	}
	id := s.addMedia(typ, filename, data)
	writeJSON(w, http.StatusOK, map[string]string{"id": id})
}

// mediaInfo answers GET /{media-id} with a fresh short-lived URL.
func (s *Server) mediaInfo(w http.ResponseWriter, r *http.Request, id string) {
	if pn := r.URL.Query().Get("phone_number_id"); pn != "" && s.numbers[pn] == "" {
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
