package snapfile

import (
	"bytes"
	"crypto/sha256"
	"encoding/hex"
	"errors"
	"os"
	"path/filepath"
	"strings"
	"testing"
	"time"
)

// good returns a whole backup file of body.
func good(t *testing.T, body []byte) []byte {
	t.Helper()
	sum := sha256.Sum256(body)
	var b bytes.Buffer
	h := Header{ClusterID: "c1", Group: "zone/A", Index: 42, Term: 3, Created: time.Unix(1, 0).UTC(),
		Size: int64(len(body)), SHA256: hex.EncodeToString(sum[:])}
	if err := Write(&b, h, bytes.NewReader(body)); err != nil {
		t.Fatal(err)
	}
	return b.Bytes()
}

func TestVerify(t *testing.T) {
	body := bytes.Repeat([]byte("state"), 1000)
	file := good(t, body)
	headerEnd := bytes.IndexByte(file[len(Magic)+1:], '\n') + len(Magic) + 2
	tests := []struct {
		name string
		file []byte
		want error
	}{
		{"whole", file, nil},
		{"truncated body", file[:len(file)-10], ErrTruncated},
		{"no body", file[:headerEnd], ErrTruncated},
		{"cut in the header", file[:headerEnd-5], ErrNotSnapshot},
		{"empty", nil, ErrNotSnapshot},
		{"flipped body byte", flip(file, len(file)-100), ErrCorrupt},
		{"trailing bytes", append(append([]byte{}, file...), 'x'), ErrCorrupt},
		{"bad magic", append([]byte("RZONE-SNAPSHOX"), file[len(Magic):]...), ErrNotSnapshot},
		{"newer version", bytes.Replace(file, []byte(`"version":1`), []byte(`"version":2`), 1), ErrVersion},
		{"header not JSON", bytes.Replace(file, []byte(`{"version"`), []byte(`["version"`), 1), ErrNotSnapshot},
		{"unknown header field", bytes.Replace(file, []byte(`{"version":1,`), []byte(`{"version":1,"x":1,`), 1), ErrNotSnapshot},
		{"sha256 in header changed", bytes.Replace(file, []byte(`"sha256":"`), []byte(`"sha256":"0`), 1), ErrNotSnapshot},
	}
	for _, tt := range tests {
		t.Run(tt.name, func(t *testing.T) {
			path := filepath.Join(t.TempDir(), "f.snap")
			if err := os.WriteFile(path, tt.file, 0o600); err != nil {
				t.Fatal(err)
			}
			h, err := Verify(path)
			if tt.want == nil {
				if err != nil || h.Index != 42 || h.Group != "zone/A" || h.Size != int64(len(body)) {
					t.Fatalf("Verify: %+v, %v", h, err)
				}
				return
			}
			if !errors.Is(err, tt.want) {
				t.Fatalf("Verify: %v, want %v", err, tt.want)
			}
			if !strings.Contains(err.Error(), path) {
				t.Fatalf("error does not name the file: %v", err)
			}
		})
	}
}

func flip(b []byte, i int) []byte {
	out := append([]byte{}, b...)
	out[i] ^= 0xff
	return out
}

func TestWriteRefusesABodyOfAnotherSize(t *testing.T) {
	h := Header{Group: "meta", Index: 1, Size: 10, SHA256: strings.Repeat("0", 64)}
	if err := Write(&bytes.Buffer{}, h, strings.NewReader("short")); err == nil {
		t.Fatal("Write took a body shorter than the header's size")
	}
}
