package whatsapp

import (
	"context"
	"fmt"
	"io"
	"mime"
	"os"
	"path/filepath"
	"regexp"

	"github.com/pbxgate/pbxgate/gateway/store"
)

// keyMedia + media id → SavedMedia.
const keyMedia = "wa/media/"

// SavedMedia is an inbound media file downloaded into the media directory.
type SavedMedia struct {
	ID       string `json:"id"`
	Path     string `json:"path"`
	MimeType string `json:"mime_type"`
	Size     int64  `json:"size"`
	SHA256   string `json:"sha256,omitempty"`
}

var safeID = regexp.MustCompile(`^[A-Za-z0-9_.-]{1,128}$`)

// UploadMedia uploads a file and returns the media id to send it by.
func (ch *Channel) UploadMedia(ctx context.Context, filename, mimeType string, r io.Reader) (string, error) {
	if err := ch.stoppedErr(); err != nil {
		return "", err
	}
	return ch.client.UploadMedia(ctx, filepath.Base(filename), mimeType, r)
}

// SaveMedia downloads inbound media id into dir (created if needed) within
// the configured size limit and records it in the store. A second call for
// the same id returns the saved file without downloading again.
func (ch *Channel) SaveMedia(ctx context.Context, id, dir string) (SavedMedia, error) {
	var sm SavedMedia
	if !safeID.MatchString(id) {
		return sm, fmt.Errorf("media id %q is not valid", id)
	}
	if err := ch.o.Store.View(func(txn *store.Txn) error { return store.GetJSON(txn, keyMedia+id, &sm) }); err == nil {
		if _, err := os.Stat(sm.Path); err == nil {
			return sm, nil
		}
	}
	if err := os.MkdirAll(dir, 0o750); err != nil {
		return sm, fmt.Errorf("media directory: %w", err)
	}
	tmp, err := os.CreateTemp(dir, ".download-*")
	if err != nil {
		return sm, fmt.Errorf("media directory: %w", err)
	}
	defer os.Remove(tmp.Name())
	mi, err := ch.client.DownloadMedia(ctx, id, ch.o.MediaMaxBytes, tmp)
	if err == nil {
		err = tmp.Sync()
	}
	if cerr := tmp.Close(); err == nil {
		err = cerr
	}
	if err != nil {
		return sm, err
	}
	ext := ""
	if exts, _ := mime.ExtensionsByType(mi.MimeType); len(exts) > 0 {
		ext = exts[0]
	}
	path := filepath.Join(dir, id+ext)
	if err := os.Rename(tmp.Name(), path); err != nil {
		return sm, fmt.Errorf("media %s: %w", id, err)
	}
	sm = SavedMedia{ID: id, Path: path, MimeType: mi.MimeType, Size: int64(mi.FileSize), SHA256: mi.SHA256}
	if err := ch.o.Store.Update(func(txn *store.Txn) error { return store.SetJSON(txn, keyMedia+id, sm) }); err != nil {
		return sm, fmt.Errorf("media %s: record: %w", id, err)
	}
	return sm, nil
}
