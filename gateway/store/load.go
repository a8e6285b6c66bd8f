package store

import (
	"fmt"

	badger "github.com/dgraph-io/badger/v4"
	"github.com/dgraph-io/badger/v4/pb"
	"github.com/dgraph-io/ristretto/v2/z"
)

// Loader fills an empty store with sorted keys straight into the LSM tree
// (Badger's StreamWriter): far faster than transactions, and the result is
// the compacted tree of a long-running store. It is for seeding large
// stores in benchmarks and tests; the daemon writes through Update.
type Loader struct {
	sw  *badger.StreamWriter
	buf *z.Buffer
}

// loaderBatch is how much a Loader buffers before it hands a batch to the
// StreamWriter.
const loaderBatch = 16 << 20

// NewLoader prepares s, which must be empty and must not be written to
// until the Loader's Flush or Cancel, for a bulk load.
func (s *Store) NewLoader() (*Loader, error) {
	sw := s.db.NewStreamWriter()
	if err := sw.Prepare(); err != nil {
		return nil, fmt.Errorf("store: prepare bulk load: %w", err)
	}
	return &Loader{sw: sw, buf: z.NewBuffer(2*loaderBatch, "store.Loader")}, nil
}

// Put adds key with val (version 1, no TTL) to stream (any number > 0).
// Keys must come in ascending order within a stream, and the key ranges
// of different streams must not overlap (one stream per key prefix).
func (l *Loader) Put(stream uint32, key, val []byte) error {
	badger.KVToBuffer(&pb.KV{Key: key, Value: val, Version: 1, StreamId: stream}, l.buf)
	if l.buf.LenNoPadding() < loaderBatch {
		return nil
	}
	if err := l.sw.Write(l.buf); err != nil {
		return fmt.Errorf("store: bulk load: %w", err)
	}
	l.buf.Reset()
	return nil
}

// Flush writes what is buffered and finishes the load; the store is then
// ready for use, and the Loader is done.
func (l *Loader) Flush() error {
	defer func() { _ = l.buf.Release() }()
	if err := l.sw.Write(l.buf); err != nil {
		l.sw.Cancel()
		return fmt.Errorf("store: bulk load: %w", err)
	}
	if err := l.sw.Flush(); err != nil {
		return fmt.Errorf("store: finish bulk load: %w", err)
	}
	return nil
}

// Cancel abandons the load (after a failed Put); the Loader is done.
func (l *Loader) Cancel() {
	l.sw.Cancel()
	_ = l.buf.Release()
}
