package attachments

import (
	"bytes"
	"crypto/aes"
	"crypto/cipher"
	"crypto/rand"
	"encoding/binary"
	"errors"
	"fmt"
	"io"

	"github.com/havencrm/haven/tenant"
)

// # File format (version 1)
//
// An attachment file is a 16-byte header followed by one or more sealed
// chunks:
//
//	header = magic "HVAT" || version 0x01 || 3 zero bytes
//	         || chunk size (4 bytes, big-endian) || nonce prefix (4 random bytes)
//	chunk  = AES-256-GCM(file key, nonce, plaintext, aad) (plaintext || 16-byte tag)
//	nonce  = nonce prefix || chunk index (8 bytes, big-endian)
//	aad    = "haven/attachment/v1" || header
//	         || len(tenant) || tenant || len(attachment ID) || attachment ID
//	         || chunk index (8 bytes) || final flag (1 byte: 1 on the last chunk)
//
// with each length a 4-byte big-endian integer. Every chunk but the last
// holds exactly chunk size bytes of plaintext; the last one holds 0 to
// chunk size bytes (0 only for an empty file), so a file always has at
// least one chunk. This is the STREAM construction (Hoang, Reyhanitabar,
// Rogaway, Vizár 2015): the index in the nonce and the associated data
// detects reordered or dropped chunks, the final flag detects truncation
// at a chunk boundary and appended data, and the tenant and attachment ID
// detect a chunk or a whole file moved to another attachment. Each file
// has its own random key, so (key, nonce) pairs never repeat across files
// however many files a tenant stores; the random prefix is defence in
// depth should a key ever be reused by mistake.

// DefaultChunkSize is the plaintext size of a chunk: large enough that the
// 16-byte tag and per-chunk work are negligible, small enough that a
// stream needs only a few buffers of memory.
const DefaultChunkSize = 64 << 10

// MaxChunkSize bounds the chunk size a reader accepts from a header, so a
// corrupted header cannot make it allocate much memory.
const MaxChunkSize = 1 << 20

// KeySize is the file key size (AES-256).
const KeySize = 32

const (
	formatVersion = 1
	headerSize    = 16
	tagSize       = 16
	nonceSize     = 12
	aadDomain     = "haven/attachment/v1"
)

var magic = [4]byte{'H', 'V', 'A', 'T'}

// Stream errors. Messages never contain plaintext or key material.
var (
	// ErrCorrupt: the file is not what was written for this attachment
	// (tampered, truncated, extended, reordered, moved from another
	// attachment, or read with the wrong key). Every reader failure other
	// than an I/O error wraps it.
	ErrCorrupt = errors.New("attachments: encrypted file is corrupt or was tampered with")
	// ErrWriterClosed: Write or Close after Close.
	ErrWriterClosed = errors.New("attachments: write to a closed encrypting writer")
)

// FileBinding names the attachment a stream belongs to; it is part of
// every chunk's associated data.
type FileBinding struct {
	Tenant       tenant.ID
	AttachmentID string
}

func (b FileBinding) validate() error {
	if b.Tenant == "" || b.AttachmentID == "" || len(b.Tenant) > 256 || len(b.AttachmentID) > 256 {
		return errors.New("attachments: a stream needs a tenant and an attachment ID")
	}
	return nil
}

func newGCM(key []byte) (cipher.AEAD, error) {
	if len(key) != KeySize {
		return nil, fmt.Errorf("attachments: file key must be %d bytes", KeySize)
	}
	block, err := aes.NewCipher(key)
	if err != nil {
		return nil, fmt.Errorf("attachments: file key: %w", err)
	}
	return cipher.NewGCM(block)
}

// aadPrefix is the part of the associated data shared by all chunks; the
// chunk index and final flag are appended per chunk (9 bytes of spare
// capacity are reserved for them).
func aadPrefix(header []byte, b FileBinding) []byte {
	out := make([]byte, 0, len(aadDomain)+len(header)+8+len(b.Tenant)+len(b.AttachmentID)+9)
	out = append(out, aadDomain...)
	out = append(out, header...)
	out = binary.BigEndian.AppendUint32(out, uint32(len(b.Tenant)))
	out = append(out, b.Tenant...)
	out = binary.BigEndian.AppendUint32(out, uint32(len(b.AttachmentID)))
	out = append(out, b.AttachmentID...)
	return out
}

// chunkParams fills nonce and returns the associated data of chunk i.
func chunkParams(nonce []byte, aad []byte, i uint64, final bool) []byte {
	binary.BigEndian.PutUint64(nonce[4:], i)
	aad = binary.BigEndian.AppendUint64(aad, i)
	if final {
		return append(aad, 1)
	}
	return append(aad, 0)
}

// Writer encrypts a stream into the attachment file format. It holds one
// chunk of plaintext and one of ciphertext, whatever the stream's length.
type Writer struct {
	dst     io.Writer
	aead    cipher.AEAD
	nonce   [nonceSize]byte
	aad     []byte // prefix; chunk fields are appended into its spare capacity
	buf     []byte // pending plaintext, at most chunkSize
	out     []byte // sealed chunk
	chunk   int
	index   uint64
	written int64
	err     error
	closed  bool
}

// NewWriter writes the header to dst and returns a Writer sealing
// DefaultChunkSize chunks with key. Close must be called to write the
// final chunk; it does not close dst.
func NewWriter(dst io.Writer, key []byte, b FileBinding) (*Writer, error) {
	return NewWriterSize(dst, key, b, DefaultChunkSize)
}

// NewWriterSize is NewWriter with a chosen chunk size (1 to MaxChunkSize
// bytes); small chunks make tamper tests cheap.
func NewWriterSize(dst io.Writer, key []byte, b FileBinding, chunkSize int) (*Writer, error) {
	if chunkSize < 1 || chunkSize > MaxChunkSize {
		return nil, fmt.Errorf("attachments: chunk size must be between 1 and %d", MaxChunkSize)
	}
	if err := b.validate(); err != nil {
		return nil, err
	}
	aead, err := newGCM(key)
	if err != nil {
		return nil, err
	}
	header := make([]byte, headerSize)
	copy(header, magic[:])
	header[4] = formatVersion
	binary.BigEndian.PutUint32(header[8:12], uint32(chunkSize))
	if _, err := rand.Read(header[12:16]); err != nil {
		return nil, fmt.Errorf("attachments: nonce prefix: %w", err)
	}
	w := &Writer{dst: dst, aead: aead, aad: aadPrefix(header, b), chunk: chunkSize,
		buf: make([]byte, 0, chunkSize), out: make([]byte, 0, chunkSize+tagSize)}
	copy(w.nonce[:4], header[12:16])
	if _, err := dst.Write(header); err != nil {
		return nil, fmt.Errorf("attachments: write header: %w", err)
	}
	return w, nil
}

// Write encrypts p. A full chunk is sealed only once more data follows,
// because the last chunk must carry the final flag and Write cannot know
// which chunk is last.
func (w *Writer) Write(p []byte) (int, error) {
	if w.closed {
		return 0, ErrWriterClosed
	}
	if w.err != nil {
		return 0, w.err
	}
	n := 0
	for len(p) > 0 {
		if len(w.buf) == w.chunk {
			if err := w.seal(false); err != nil {
				return n, err
			}
		}
		m := copy(w.buf[len(w.buf):w.chunk], p)
		w.buf = w.buf[:len(w.buf)+m]
		p = p[m:]
		n += m
		w.written += int64(m)
	}
	return n, nil
}

// Close seals the final chunk. The stream is complete only after Close
// returns nil.
func (w *Writer) Close() error {
	if w.closed {
		return w.err
	}
	w.closed = true
	if w.err != nil {
		return w.err
	}
	return w.seal(true)
}

// Written is the number of plaintext bytes accepted so far.
func (w *Writer) Written() int64 { return w.written }

func (w *Writer) seal(final bool) error {
	aad := chunkParams(w.nonce[:], w.aad, w.index, final)
	w.out = w.aead.Seal(w.out[:0], w.nonce[:], w.buf, aad)
	clear(w.buf)
	w.buf = w.buf[:0]
	if _, err := w.dst.Write(w.out); err != nil {
		w.err = fmt.Errorf("attachments: write chunk: %w", err)
		return w.err
	}
	w.index++
	return nil
}

// Reader decrypts the attachment file format. Read returns plaintext only
// after the chunk holding it has been authenticated, and io.EOF only after
// the final chunk has; a corrupt file yields an error wrapping ErrCorrupt.
// Plaintext returned before such an error was authentic, but the stream
// as a whole was not: consumers must treat the transfer as failed.
type Reader struct {
	src      io.Reader
	aead     cipher.AEAD
	nonce    [nonceSize]byte
	aad      []byte
	buf      []byte // sealed chunk plus one byte of look-ahead
	la       byte   // look-ahead byte read with the previous chunk
	carry    bool   // la is valid
	pt       []byte // authenticated plaintext not yet returned
	chunk    int
	index    uint64
	read     int64
	done     bool
	err      error
	anyChunk bool
}

// NewReader reads and checks the header of src and returns a Reader that
// decrypts it with key. The header is authenticated with the first chunk.
func NewReader(src io.Reader, key []byte, b FileBinding) (*Reader, error) {
	if err := b.validate(); err != nil {
		return nil, err
	}
	aead, err := newGCM(key)
	if err != nil {
		return nil, err
	}
	header := make([]byte, headerSize)
	if _, err := io.ReadFull(src, header); err != nil {
		if errors.Is(err, io.EOF) || errors.Is(err, io.ErrUnexpectedEOF) {
			return nil, fmt.Errorf("%w: header truncated", ErrCorrupt)
		}
		return nil, fmt.Errorf("attachments: read header: %w", err)
	}
	if !bytes.Equal(header[:4], magic[:]) {
		return nil, fmt.Errorf("%w: not an attachment file", ErrCorrupt)
	}
	if header[4] != formatVersion || header[5] != 0 || header[6] != 0 || header[7] != 0 {
		return nil, fmt.Errorf("%w: unsupported format version %d", ErrCorrupt, header[4])
	}
	size := binary.BigEndian.Uint32(header[8:12])
	if size < 1 || size > MaxChunkSize {
		return nil, fmt.Errorf("%w: chunk size out of range", ErrCorrupt)
	}
	r := &Reader{src: src, aead: aead, aad: aadPrefix(header, b), chunk: int(size),
		buf: make([]byte, int(size)+tagSize+1)}
	copy(r.nonce[:4], header[12:16])
	return r, nil
}

// Read implements io.Reader.
func (r *Reader) Read(p []byte) (int, error) {
	for len(r.pt) == 0 {
		if r.err != nil {
			return 0, r.err
		}
		if r.done {
			return 0, io.EOF
		}
		if err := r.next(); err != nil {
			r.err = err
			return 0, err
		}
	}
	n := copy(p, r.pt)
	r.pt = r.pt[n:]
	return n, nil
}

// Decrypted is the number of authenticated plaintext bytes so far.
func (r *Reader) Decrypted() int64 { return r.read }

// next reads, authenticates and decrypts one chunk into r.pt. A chunk is
// final when the source ends right after it; the look-ahead byte tells
// whether more follows without holding two chunks.
func (r *Reader) next() error {
	start := 0
	if r.carry {
		// The previous chunk's plaintext (decrypted in place) has been
		// consumed, so buf[0] is free for the byte read ahead with it.
		r.buf[0] = r.la
		start = 1
	}
	n, err := io.ReadFull(r.src, r.buf[start:])
	total := start + n
	sealedSize := r.chunk + tagSize
	var sealed []byte
	final := false
	switch {
	case err == nil:
		sealed = r.buf[:sealedSize]
	case errors.Is(err, io.EOF) || errors.Is(err, io.ErrUnexpectedEOF):
		final = true
		sealed = r.buf[:total]
		if total < tagSize {
			// Too short to be a chunk (a file cut inside a tag, or one
			// with no chunk at all).
			return fmt.Errorf("%w: truncated chunk %d", ErrCorrupt, r.index)
		}
	default:
		return fmt.Errorf("attachments: read chunk %d: %w", r.index, err)
	}
	var lookahead byte
	if !final {
		lookahead = r.buf[sealedSize]
	}
	aad := chunkParams(r.nonce[:], r.aad, r.index, final)
	pt, err := r.aead.Open(sealed[:0], r.nonce[:], sealed, aad)
	if err != nil {
		return fmt.Errorf("%w: chunk %d failed authentication", ErrCorrupt, r.index)
	}
	if final && len(pt) == 0 && r.anyChunk {
		// The writer never emits an empty final chunk after data.
		return fmt.Errorf("%w: empty final chunk", ErrCorrupt)
	}
	if r.index == ^uint64(0) {
		return fmt.Errorf("%w: too many chunks", ErrCorrupt)
	}
	r.index++
	r.anyChunk = true
	r.pt = pt
	r.read += int64(len(pt))
	r.done = final
	if !final {
		r.la, r.carry = lookahead, true
	}
	return nil
}

// prime decrypts the first chunk ahead of the first Read, so a caller
// learns of a wrong key or a corrupt start before committing to a
// response.
func (r *Reader) prime() error {
	if len(r.pt) > 0 || r.done || r.err != nil {
		return r.err
	}
	if err := r.next(); err != nil {
		r.err = err
		return err
	}
	return nil
}
