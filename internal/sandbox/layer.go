package sandbox

import (
	"bytes"
	"compress/gzip"
	"io"

	v1 "github.com/google/go-containerregistry/pkg/v1"
	"github.com/google/go-containerregistry/pkg/v1/types"
)

// memLayer is a layer held compressed in memory. go-containerregistry's
// random.Layer keeps the tar uncompressed and gzips it again for its
// digest and for every read; BuildImage compresses each random layer
// once (compressOnce) and pushes those bytes. The layer is the same: its
// digest is the SHA-256 of the bytes pushed, its DiffID that of the tar.
type memLayer struct {
	compressed []byte
	digest     v1.Hash
	diffID     v1.Hash
	mt         types.MediaType
}

func compressOnce(l v1.Layer) (v1.Layer, error) {
	rc, err := l.Compressed()
	if err != nil {
		return nil, err
	}
	b, err := io.ReadAll(rc)
	rc.Close()
	if err != nil {
		return nil, err
	}
	diffID, err := l.DiffID()
	if err != nil {
		return nil, err
	}
	mt, err := l.MediaType()
	if err != nil {
		return nil, err
	}
	h, _, err := v1.SHA256(bytes.NewReader(b))
	if err != nil {
		return nil, err
	}
	return &memLayer{compressed: b, digest: h, diffID: diffID, mt: mt}, nil
}

func (m *memLayer) Digest() (v1.Hash, error)            { return m.digest, nil }
func (m *memLayer) DiffID() (v1.Hash, error)            { return m.diffID, nil }
func (m *memLayer) Size() (int64, error)                { return int64(len(m.compressed)), nil }
func (m *memLayer) MediaType() (types.MediaType, error) { return m.mt, nil }

func (m *memLayer) Compressed() (io.ReadCloser, error) {
	return io.NopCloser(bytes.NewReader(m.compressed)), nil
}

func (m *memLayer) Uncompressed() (io.ReadCloser, error) {
	return gzip.NewReader(bytes.NewReader(m.compressed))
}
