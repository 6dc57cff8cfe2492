// Package cookiekeys derives the securecookie codecs that seal Gatehouse's
// cookies from the session secrets: one HMAC and one AES key per secret,
// each from HKDF-SHA256 with a label of the cookie's own, so that no two
// kinds of cookie share keys and a rotated secret keeps decoding what it
// sealed.
package cookiekeys

import (
	"crypto/hkdf"
	"crypto/sha256"
	"fmt"
	"time"

	"github.com/gorilla/securecookie"
)

// MinSecretLen is the shortest secret accepted, in bytes.
const MinSecretLen = 32

// Codecs returns a codec per secret, newest first as the secrets are,
// with keys derived under label (label+" hmac v1", label+" aes v1").
// Values older than maxAge do not decode; maxLen, when positive, bounds
// an encoded value's length (securecookie's default, 4096, otherwise).
func Codecs(secrets [][]byte, label string, maxAge time.Duration, maxLen int, ser securecookie.Serializer) ([]securecookie.Codec, error) {
	pairs := make([][]byte, 0, 2*len(secrets))
	for i, s := range secrets {
		if len(s) < MinSecretLen {
			return nil, fmt.Errorf("secret %d is %d bytes, need at least %d", i, len(s), MinSecretLen)
		}
		hashKey, err := hkdf.Key(sha256.New, s, nil, label+" hmac v1", 32)
		if err != nil {
			return nil, fmt.Errorf("derive %s hmac key: %w", label, err)
		}
		blockKey, err := hkdf.Key(sha256.New, s, nil, label+" aes v1", 32)
		if err != nil {
			return nil, fmt.Errorf("derive %s aes key: %w", label, err)
		}
		pairs = append(pairs, hashKey, blockKey)
	}
	codecs := securecookie.CodecsFromPairs(pairs...)
	for _, c := range codecs {
		sc := c.(*securecookie.SecureCookie)
		sc.MaxAge(int(maxAge / time.Second))
		if maxLen > 0 {
			sc.MaxLength(maxLen)
		}
		sc.SetSerializer(ser)
	}
	return codecs, nil
}
