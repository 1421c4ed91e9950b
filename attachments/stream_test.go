package attachments

import (
	"bytes"
	"crypto/aes"
	"crypto/cipher"
	"crypto/rand"
	"errors"
	"io"
	"runtime"
	"testing"
)

var testBinding = FileBinding{Tenant: "0190b6a0-0000-7000-8000-000000000001", AttachmentID: "0190b6a0-0000-7000-8000-0000000000aa"}

func newKey(t testing.TB) []byte {
	t.Helper()
	k := make([]byte, KeySize)
	if _, err := rand.Read(k); err != nil {
		t.Fatal(err)
	}
	return k
}

func seal(t testing.TB, key []byte, b FileBinding, chunk int, plain []byte) []byte {
	t.Helper()
	var buf bytes.Buffer
	w, err := NewWriterSize(&buf, key, b, chunk)
	if err != nil {
		t.Fatal(err)
	}
	// Odd write sizes exercise chunk boundaries inside one Write.
	for p := plain; len(p) > 0; {
		n := min(len(p), 7+len(p)%13)
		if _, err := w.Write(p[:n]); err != nil {
			t.Fatal(err)
		}
		p = p[n:]
	}
	if err := w.Close(); err != nil {
		t.Fatal(err)
	}
	if w.Written() != int64(len(plain)) {
		t.Fatalf("Written %d, want %d", w.Written(), len(plain))
	}
	return buf.Bytes()
}

func open(key []byte, b FileBinding, sealed []byte) ([]byte, error) {
	r, err := NewReader(bytes.NewReader(sealed), key, b)
	if err != nil {
		return nil, err
	}
	return io.ReadAll(r)
}

func TestStreamRoundTrip(t *testing.T) {
	key := newKey(t)
	for _, chunk := range []int{1, 16, 64, DefaultChunkSize} {
		for _, n := range []int{0, 1, 15, 16, 17, 63, 64, 65, 128, 1000, 3*DefaultChunkSize + 5} {
			plain := make([]byte, n)
			_, _ = rand.Read(plain)
			sealed := seal(t, key, testBinding, chunk, plain)
			chunks := max(1, (n+chunk-1)/chunk)
			if want := headerSize + n + chunks*tagSize; len(sealed) != want {
				t.Errorf("chunk %d, %d bytes: sealed size %d, want %d", chunk, n, len(sealed), want)
			}
			got, err := open(key, testBinding, sealed)
			if err != nil || !bytes.Equal(got, plain) {
				t.Errorf("chunk %d, %d bytes: round trip failed: %v", chunk, n, err)
			}
			if n >= 16 && bytes.Contains(sealed, plain[:16]) {
				t.Errorf("chunk %d, %d bytes: plaintext visible in the file", chunk, n)
			}
		}
	}
}

// TestStreamTamper covers what the STREAM construction promises: any
// change to a file, short of the right key and binding, is detected.
func TestStreamTamper(t *testing.T) {
	key := newKey(t)
	const chunk = 32
	plain := bytes.Repeat([]byte("0123456789abcdef"), 10) // 160 bytes: 5 full chunks
	sealed := seal(t, key, testBinding, chunk, plain)
	sc := chunk + tagSize
	body := sealed[headerSize:]
	chunkAt := func(i int) []byte { return body[i*sc : (i+1)*sc] }
	join := func(parts ...[]byte) []byte { return bytes.Join(parts, nil) }
	other := seal(t, key, FileBinding{Tenant: testBinding.Tenant, AttachmentID: "0190b6a0-0000-7000-8000-0000000000bb"}, chunk, plain)
	otherTenant := seal(t, key, FileBinding{Tenant: "0190b6a0-0000-7000-8000-000000000002", AttachmentID: testBinding.AttachmentID}, chunk, plain)
	shorter := seal(t, key, testBinding, chunk, plain[:2*chunk])
	header := sealed[:headerSize]

	cases := []struct {
		name string
		file []byte
		key  []byte
		b    FileBinding
	}{
		{"flipped ciphertext bit", flip(sealed, headerSize+5), key, testBinding},
		{"flipped tag bit", flip(sealed, len(sealed)-1), key, testBinding},
		{"flipped nonce prefix", flip(sealed, 13), key, testBinding},
		{"flipped chunk size", flip(sealed, 11), key, testBinding},
		{"flipped magic", flip(sealed, 0), key, testBinding},
		{"other version", flip(sealed, 4), key, testBinding},
		{"header only", header, key, testBinding},
		{"empty file", nil, key, testBinding},
		{"truncated header", sealed[:10], key, testBinding},
		{"truncated mid-chunk", sealed[:headerSize+sc+10], key, testBinding},
		{"truncated at a chunk boundary", sealed[:headerSize+2*sc], key, testBinding},
		{"last chunk dropped", sealed[:len(sealed)-sc], key, testBinding},
		{"byte appended", append(bytes.Clone(sealed), 0), key, testBinding},
		{"chunk appended", join(sealed, chunkAt(4)), key, testBinding},
		{"chunks swapped", join(header, chunkAt(1), chunkAt(0), chunkAt(2), chunkAt(3), chunkAt(4)), key, testBinding},
		{"chunk repeated", join(header, chunkAt(0), chunkAt(0), chunkAt(2), chunkAt(3), chunkAt(4)), key, testBinding},
		{"chunk from another attachment", join(header, other[headerSize:headerSize+sc], chunkAt(1), chunkAt(2), chunkAt(3), chunkAt(4)), key, testBinding},
		{"file of another attachment", other, key, testBinding},
		{"file of another tenant", otherTenant, key, testBinding},
		{"final chunk of a shorter file appended", join(sealed[:headerSize+2*sc], shorter[headerSize+2*sc:]), key, testBinding},
		{"wrong key", sealed, newKey(t), testBinding},
	}
	for _, tc := range cases {
		got, err := open(tc.key, tc.b, tc.file)
		if !errors.Is(err, ErrCorrupt) {
			t.Errorf("%s: want ErrCorrupt, got %v (%d bytes)", tc.name, err, len(got))
		}
	}
	// A reader never hands out the plaintext of the chunk that fails.
	r, err := NewReader(bytes.NewReader(flip(sealed, headerSize+2*sc+3)), key, testBinding)
	if err != nil {
		t.Fatal(err)
	}
	got, err := io.ReadAll(r)
	if !errors.Is(err, ErrCorrupt) || !bytes.Equal(got, plain[:2*chunk]) {
		t.Errorf("bad third chunk: read %d bytes, %v; want the first two chunks then ErrCorrupt", len(got), err)
	}
}

func flip(b []byte, i int) []byte {
	c := bytes.Clone(b)
	c[i] ^= 0x01
	return c
}

// FuzzStreamTamper mutates a sealed file at fuzzer-chosen places: the
// result must either be the original (no change) or fail with ErrCorrupt.
func FuzzStreamTamper(f *testing.F) {
	key := make([]byte, KeySize)
	plain := bytes.Repeat([]byte("attachment "), 20)
	var buf bytes.Buffer
	w, _ := NewWriterSize(&buf, key, testBinding, 24)
	_, _ = w.Write(plain)
	_ = w.Close()
	sealed := buf.Bytes()
	f.Add(uint16(20), byte(1), uint16(0), uint16(0))
	f.Add(uint16(0), byte(0), uint16(40), uint16(0))
	f.Add(uint16(0), byte(0), uint16(0), uint16(3))
	f.Fuzz(func(t *testing.T, pos uint16, mask byte, cut uint16, extra uint16) {
		file := bytes.Clone(sealed)
		if len(file) > 0 {
			file[int(pos)%len(file)] ^= mask
		}
		file = file[:len(file)-int(cut)%(len(file)+1)]
		file = append(file, bytes.Repeat([]byte{byte(extra)}, int(extra%64))...)
		got, err := open(key, testBinding, file)
		if err == nil {
			if !bytes.Equal(got, plain) {
				t.Fatalf("altered file decrypted to different plaintext")
			}
			if !bytes.Equal(file, sealed) {
				t.Fatalf("altered file accepted")
			}
			return
		}
		if !errors.Is(err, ErrCorrupt) {
			t.Fatalf("want ErrCorrupt, got %v", err)
		}
	})
}

func TestWriterAndReaderRefuseBadInput(t *testing.T) {
	var buf bytes.Buffer
	if _, err := NewWriter(&buf, make([]byte, 16), testBinding); err == nil {
		t.Error("a 128-bit key was accepted")
	}
	if _, err := NewWriter(&buf, newKey(t), FileBinding{Tenant: testBinding.Tenant}); err == nil {
		t.Error("a binding without an attachment ID was accepted")
	}
	if _, err := NewWriterSize(&buf, newKey(t), testBinding, MaxChunkSize+1); err == nil {
		t.Error("an oversized chunk was accepted")
	}
	w, err := NewWriter(&buf, newKey(t), testBinding)
	if err != nil {
		t.Fatal(err)
	}
	if err := w.Close(); err != nil {
		t.Fatal(err)
	}
	if _, err := w.Write([]byte("x")); !errors.Is(err, ErrWriterClosed) {
		t.Errorf("write after close: %v", err)
	}
	// A header claiming huge chunks is refused before any allocation.
	h := make([]byte, headerSize)
	copy(h, magic[:])
	h[4] = formatVersion
	h[8] = 0x7f
	if _, err := NewReader(bytes.NewReader(h), newKey(t), testBinding); !errors.Is(err, ErrCorrupt) {
		t.Errorf("huge chunk size: %v", err)
	}
}

// TestStreamConstantMemory is the behavioural proof that encryption and
// decryption stream: 64 MiB through both allocate a small constant, not
// anything proportional to the data.
func TestStreamConstantMemory(t *testing.T) {
	if testing.Short() {
		t.Skip("streams 64 MiB")
	}
	const total = 64 << 20
	key := newKey(t)
	var sealed countingWriter
	var before, after runtime.MemStats
	runtime.GC()
	runtime.ReadMemStats(&before)
	w, err := NewWriter(&sealed, key, testBinding)
	if err != nil {
		t.Fatal(err)
	}
	if _, err := io.Copy(w, io.LimitReader(zeroReader{}, total)); err != nil {
		t.Fatal(err)
	}
	if err := w.Close(); err != nil {
		t.Fatal(err)
	}
	runtime.ReadMemStats(&after)
	if d := after.TotalAlloc - before.TotalAlloc; d > 2<<20 {
		t.Errorf("encrypting 64 MiB allocated %d bytes", d)
	}
	t.Logf("encrypt 64 MiB: %d bytes allocated", after.TotalAlloc-before.TotalAlloc)

	// Decrypt a generated 64 MiB file without holding it: the writer
	// feeds the reader through a pipe.
	pr, pw := io.Pipe()
	go func() {
		w, err := NewWriter(pw, key, testBinding)
		if err == nil {
			_, err = io.Copy(w, io.LimitReader(zeroReader{}, total))
		}
		if err == nil {
			err = w.Close()
		}
		pw.CloseWithError(err)
	}()
	runtime.GC()
	runtime.ReadMemStats(&before)
	r, err := NewReader(pr, key, testBinding)
	if err != nil {
		t.Fatal(err)
	}
	n, err := io.Copy(io.Discard, r)
	runtime.ReadMemStats(&after)
	if err != nil || n != total {
		t.Fatalf("decrypted %d bytes: %v", n, err)
	}
	// Both ends of the pipe run in this process, so this counts the
	// writer's buffers too.
	if d := after.TotalAlloc - before.TotalAlloc; d > 4<<20 {
		t.Errorf("decrypting 64 MiB allocated %d bytes", d)
	}
	t.Logf("encrypt+decrypt 64 MiB through a pipe: %d bytes allocated", after.TotalAlloc-before.TotalAlloc)
}

type zeroReader struct{}

func (zeroReader) Read(p []byte) (int, error) {
	clear(p)
	return len(p), nil
}

type countingWriter struct{ n int64 }

func (c *countingWriter) Write(p []byte) (int, error) {
	c.n += int64(len(p))
	return len(p), nil
}

func BenchmarkEncrypt(b *testing.B) {
	key, data := newKey(b), make([]byte, 4<<20)
	b.SetBytes(int64(len(data)))
	for b.Loop() {
		w, _ := NewWriter(io.Discard, key, testBinding)
		_, _ = w.Write(data)
		_ = w.Close()
	}
}

func BenchmarkDecrypt(b *testing.B) {
	key, data := newKey(b), make([]byte, 4<<20)
	sealed := seal(b, key, testBinding, DefaultChunkSize, data)
	b.SetBytes(int64(len(data)))
	for b.Loop() {
		r, err := NewReader(bytes.NewReader(sealed), key, testBinding)
		if err != nil {
			b.Fatal(err)
		}
		if _, err := io.Copy(io.Discard, r); err != nil {
			b.Fatal(err)
		}
	}
}

// BenchmarkRawGCM is the baseline: AES-256-GCM over the same data in
// 64 KiB chunks with no framing, buffers or I/O.
func BenchmarkRawGCM(b *testing.B) {
	key, data := newKey(b), make([]byte, 4<<20)
	block, _ := aes.NewCipher(key)
	aead, _ := cipher.NewGCM(block)
	nonce := make([]byte, nonceSize)
	out := make([]byte, 0, DefaultChunkSize+tagSize)
	b.SetBytes(int64(len(data)))
	for b.Loop() {
		for p := data; len(p) > 0; p = p[DefaultChunkSize:] {
			out = aead.Seal(out[:0], nonce, p[:DefaultChunkSize], nil)
		}
	}
}
