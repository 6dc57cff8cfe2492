package cookiekeys

import (
	"bytes"
	"crypto/hkdf"
	"crypto/sha256"
	"strings"
	"testing"
	"time"

	"github.com/gorilla/securecookie"
)

var (
	oldSecret = bytes.Repeat([]byte("o"), 32)
	newSecret = bytes.Repeat([]byte("n"), 32)
)

func codecs(t *testing.T, secrets [][]byte, label string, maxLen int) []securecookie.Codec {
	t.Helper()
	cs, err := Codecs(secrets, label, time.Hour, maxLen, securecookie.NopEncoder{})
	if err != nil {
		t.Fatal(err)
	}
	return cs
}

// TestCodecs_Keys: the keys are HKDF-SHA256 of each secret under the
// label (what cookies sealed by earlier versions were sealed with), a
// rotated-out secret still decodes, and another label does not.
func TestCodecs_Keys(t *testing.T) {
	hashKey, _ := hkdf.Key(sha256.New, oldSecret, nil, "test cookie hmac v1", 32)
	blockKey, _ := hkdf.Key(sha256.New, oldSecret, nil, "test cookie aes v1", 32)
	sealer := securecookie.New(hashKey, blockKey)
	sealer.SetSerializer(securecookie.NopEncoder{})
	sealed, err := sealer.Encode("c", []byte("value"))
	if err != nil {
		t.Fatal(err)
	}
	for _, c := range []struct {
		name    string
		secrets [][]byte
		label   string
		ok      bool
	}{
		{"same secret and label", [][]byte{oldSecret}, "test cookie", true},
		{"rotated: the old secret second", [][]byte{newSecret, oldSecret}, "test cookie", true},
		{"the secret gone", [][]byte{newSecret}, "test cookie", false},
		{"another label", [][]byte{oldSecret}, "other cookie", false},
	} {
		t.Run(c.name, func(t *testing.T) {
			var got []byte
			err := securecookie.DecodeMulti("c", sealed, &got, codecs(t, c.secrets, c.label, 0)...)
			if ok := err == nil && string(got) == "value"; ok != c.ok {
				t.Fatalf("decoded %q, %v; want success %t", got, err, c.ok)
			}
		})
	}
}

func TestCodecs_Limits(t *testing.T) {
	if _, err := Codecs([][]byte{newSecret, []byte("short")}, "x", time.Hour, 0, securecookie.NopEncoder{}); err == nil ||
		!strings.Contains(err.Error(), "secret 1 is 5 bytes, need at least 32") {
		t.Fatalf("short secret: %v", err)
	}
	cs := codecs(t, [][]byte{newSecret}, "x", 400) // 100 bytes seal to about 270
	if _, err := securecookie.EncodeMulti("c", bytes.Repeat([]byte("v"), 300), cs...); err == nil {
		t.Fatal("a value over maxLen was sealed")
	}
	if _, err := securecookie.EncodeMulti("c", bytes.Repeat([]byte("v"), 100), cs...); err != nil {
		t.Fatalf("a value under maxLen: %v", err)
	}
}
