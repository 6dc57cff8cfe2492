package keys

import (
	"crypto"
	"crypto/ecdsa"
	"crypto/elliptic"
	"crypto/rand"
	"crypto/rsa"
	"crypto/x509"
	"encoding/base64"
	"encoding/json"
	"errors"
	"fmt"
	"sync"
	"sync/atomic"
	"time"

	"github.com/go-jose/go-jose/v4"
)

// rsaBits is the size of generated RSA keys and the minimum accepted from a
// file.
const rsaBits = 2048

// key is one signing key. It is immutable once built, except for the
// signer cache, which is safe for concurrent use.
type key struct {
	alg  string
	kid  string
	priv crypto.Signer
	// generated keys sign during [notBefore, notAfter) and stay published
	// until notAfter + Retain; file keys have zero times and never expire.
	notBefore, notAfter time.Time
	file                bool
	// jwk is the public key as a JWK, ready for the JWKS.
	jwk []byte
	// path is where a generated key's record is stored; indexed is set
	// once the path is listed in the index set.
	path    string
	indexed atomic.Bool

	signers sync.Map // typ -> jose.Signer
}

// record is how a generated key is kept in the store.
type record struct {
	Kid       string    `json:"kid"`
	Alg       string    `json:"alg"`
	Key       []byte    `json:"key"` // PKCS#8 DER
	NotBefore time.Time `json:"not_before"`
	NotAfter  time.Time `json:"not_after"`
}

// newKey checks that priv suits alg and computes its kid.
func newKey(alg string, priv crypto.Signer) (*key, error) {
	if err := checkKey(alg, priv); err != nil {
		return nil, err
	}
	kid, err := thumbprint(priv.Public())
	if err != nil {
		return nil, err
	}
	k := &key{alg: alg, kid: kid, priv: priv}
	if k.jwk, err = json.Marshal(k.public()); err != nil {
		return nil, fmt.Errorf("encoding public %s key: %w", alg, err)
	}
	return k, nil
}

// algFor infers the algorithm of a private key, refusing what Gatehouse does
// not sign with.
func algFor(priv any) (string, crypto.Signer, error) {
	switch k := priv.(type) {
	case *rsa.PrivateKey:
		return RS256, k, checkKey(RS256, k)
	case *ecdsa.PrivateKey:
		return ES256, k, checkKey(ES256, k)
	default:
		return "", nil, fmt.Errorf("unsupported key type %T (want RSA or EC P-256)", priv)
	}
}

// checkKey reports whether priv is an acceptable key for alg.
func checkKey(alg string, priv crypto.Signer) error {
	switch alg {
	case RS256:
		k, ok := priv.(*rsa.PrivateKey)
		if !ok {
			return fmt.Errorf("%s needs an RSA key, not %T", alg, priv)
		}
		if n := k.N.BitLen(); n < rsaBits {
			return fmt.Errorf("RSA key of %d bits is too small (at least %d)", n, rsaBits)
		}
	case ES256:
		k, ok := priv.(*ecdsa.PrivateKey)
		if !ok {
			return fmt.Errorf("%s needs an EC P-256 key, not %T", alg, priv)
		}
		if k.Curve != elliptic.P256() {
			return fmt.Errorf("EC key on curve %s is not P-256, the only curve of %s", k.Curve.Params().Name, alg)
		}
	default:
		return fmt.Errorf("unsupported algorithm %q", alg)
	}
	return nil
}

// generate makes a fresh private key for alg.
func generate(alg string) (crypto.Signer, error) {
	switch alg {
	case RS256:
		return rsa.GenerateKey(rand.Reader, rsaBits)
	case ES256:
		return ecdsa.GenerateKey(elliptic.P256(), rand.Reader)
	default:
		return nil, fmt.Errorf("unsupported algorithm %q", alg)
	}
}

// thumbprint is the RFC 7638 SHA-256 thumbprint of pub, base64url encoded.
func thumbprint(pub crypto.PublicKey) (string, error) {
	jwk := jose.JSONWebKey{Key: pub}
	sum, err := jwk.Thumbprint(crypto.SHA256)
	if err != nil {
		return "", fmt.Errorf("computing key thumbprint: %w", err)
	}
	return base64.RawURLEncoding.EncodeToString(sum), nil
}

// encode serialises a generated key for the store.
func (k *key) encode() ([]byte, error) {
	der, err := x509.MarshalPKCS8PrivateKey(k.priv)
	if err != nil {
		return nil, fmt.Errorf("encoding %s key: %w", k.alg, err)
	}
	return json.Marshal(record{Kid: k.kid, Alg: k.alg, Key: der, NotBefore: k.notBefore, NotAfter: k.notAfter})
}

// decodeRecord parses a stored key; callers check it is the key they
// expect.
func decodeRecord(b []byte) (*key, error) {
	var r record
	if err := json.Unmarshal(b, &r); err != nil {
		return nil, fmt.Errorf("decoding key record: %w", err)
	}
	if r.Alg != RS256 && r.Alg != ES256 {
		return nil, fmt.Errorf("record holds a key of unsupported algorithm %q", r.Alg)
	}
	if !r.NotBefore.Before(r.NotAfter) {
		return nil, errors.New("record has an empty signing period")
	}
	parsed, err := x509.ParsePKCS8PrivateKey(r.Key)
	if err != nil {
		return nil, fmt.Errorf("parsing stored private key: %w", err)
	}
	priv, ok := parsed.(crypto.Signer)
	if !ok {
		return nil, fmt.Errorf("stored key of type %T cannot sign", parsed)
	}
	k, err := newKey(r.Alg, priv)
	if err != nil {
		return nil, err
	}
	if k.kid != r.Kid {
		return nil, errors.New("stored kid does not match the key")
	}
	k.notBefore, k.notAfter = r.NotBefore.UTC(), r.NotAfter.UTC()
	return k, nil
}

// slotID identifies a generated key's signing slot.
type slotID struct {
	alg    string
	nb, na int64
}

func (k *key) slotID() slotID {
	return slotID{k.alg, k.notBefore.UnixNano(), k.notAfter.UnixNano()}
}

// publishedAt reports whether tokens signed by k are accepted at now.
func (k *key) publishedAt(now time.Time, retain time.Duration) bool {
	return k.file || now.Before(k.notAfter.Add(retain))
}

// signer returns a cached signer producing the given typ header.
func (k *key) signer(typ string) (jose.Signer, error) {
	if s, ok := k.signers.Load(typ); ok {
		return s.(jose.Signer), nil
	}
	opts := &jose.SignerOptions{}
	if typ != "" {
		opts = opts.WithType(jose.ContentType(typ))
	}
	s, err := jose.NewSigner(jose.SigningKey{
		Algorithm: jose.SignatureAlgorithm(k.alg),
		Key:       jose.JSONWebKey{Key: k.priv, KeyID: k.kid, Algorithm: k.alg},
	}, opts)
	if err != nil {
		return nil, fmt.Errorf("building %s signer: %w", k.alg, err)
	}
	// typ values are constants of a handful of call sites ("JWT",
	// "at+jwt", "logout+jwt"), so the cache stays small.
	k.signers.Store(typ, s)
	return s, nil
}

// public is the key's public JWK.
func (k *key) public() jose.JSONWebKey {
	return jose.JSONWebKey{Key: k.priv.Public(), KeyID: k.kid, Algorithm: k.alg, Use: "sig"}
}
