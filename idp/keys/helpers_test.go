package keys

import (
	"bytes"
	"context"
	"crypto/ecdsa"
	"crypto/elliptic"
	"crypto/hmac"
	"crypto/rand"
	"crypto/sha256"
	"crypto/x509"
	"encoding/base64"
	"encoding/json"
	"encoding/pem"
	"errors"
	"log/slog"
	"strings"
	"sync"
	"sync/atomic"
	"testing"
	"time"

	"github.com/go-jose/go-jose/v4"

	"github.com/gatehouse-sso/gatehouse/store"
	"github.com/gatehouse-sso/gatehouse/store/memory"
)

// t0 lies in the middle of a 30-day rotation period.
var t0 = time.Date(2026, 3, 10, 12, 0, 0, 0, time.UTC)

// clock is a settable clock shared by the store and the managers.
type clock struct {
	mu sync.Mutex
	t  time.Time
}

func newClock(t time.Time) *clock { return &clock{t: t} }

func (c *clock) Now() time.Time {
	c.mu.Lock()
	defer c.mu.Unlock()
	return c.t
}

func (c *clock) Set(t time.Time) {
	c.mu.Lock()
	defer c.mu.Unlock()
	c.t = t
}

// newStore returns a memory store reading clk.
func newStore(t testing.TB, clk *clock) *memory.Store {
	t.Helper()
	st := memory.New(memory.WithClock(clk.Now))
	t.Cleanup(func() { st.Close() })
	return st
}

// newManager builds a Manager on st with the defaults and clk.
func newManager(t testing.TB, st store.Store, clk *clock, o Options) *Manager {
	t.Helper()
	o.Now = clk.Now
	m, err := New(context.Background(), st, o)
	if err != nil {
		t.Fatalf("New: %v", err)
	}
	return m
}

// periodStart is the start of the default rotation period containing t,
// shifted by n periods.
func periodStart(t time.Time, n int64) time.Time {
	p := int64(DefaultRotationPeriod)
	return time.Unix(0, (t.UnixNano()/p+n)*p).UTC()
}

// header decodes a compact JWS's protected header.
func header(t testing.TB, tok string) map[string]any {
	t.Helper()
	h, _, _ := strings.Cut(tok, ".")
	b, err := base64.RawURLEncoding.DecodeString(h)
	if err != nil {
		t.Fatalf("decoding header: %v", err)
	}
	var m map[string]any
	if err := json.Unmarshal(b, &m); err != nil {
		t.Fatalf("parsing header: %v", err)
	}
	return m
}

// kidOf is the kid header of tok.
func kidOf(t testing.TB, tok string) string {
	t.Helper()
	kid, _ := header(t, tok)["kid"].(string)
	return kid
}

// mustSign signs claims or fails the test.
func mustSign(t testing.TB, m *Manager, alg string, claims any) string {
	t.Helper()
	tok, err := m.Sign(alg, "JWT", claims)
	if err != nil {
		t.Fatalf("Sign(%s): %v", alg, err)
	}
	return tok
}

// jwks parses m's JWKS.
func jwks(t testing.TB, m *Manager) jose.JSONWebKeySet {
	t.Helper()
	var set jose.JSONWebKeySet
	if err := json.Unmarshal(m.JWKS(), &set); err != nil {
		t.Fatalf("parsing JWKS: %v", err)
	}
	return set
}

// kids lists the kids of m's JWKS for alg, in order.
func kids(t testing.TB, m *Manager, alg string) []string {
	t.Helper()
	var out []string
	for _, k := range jwks(t, m).Keys {
		if k.Algorithm == alg {
			out = append(out, k.KeyID)
		}
	}
	return out
}

// flakyStore fails every operation while down is set.
type flakyStore struct {
	store.Store
	down atomic.Bool
}

var errDown = errors.New("store unreachable")

func (f *flakyStore) Get(ctx context.Context, key string) ([]byte, error) {
	if f.down.Load() {
		return nil, errDown
	}
	return f.Store.Get(ctx, key)
}

func (f *flakyStore) Create(ctx context.Context, key string, value []byte, ttl time.Duration) error {
	if f.down.Load() {
		return errDown
	}
	return f.Store.Create(ctx, key, value, ttl)
}

// syncBuffer is a bytes.Buffer safe for a logger and a test to share.
type syncBuffer struct {
	mu sync.Mutex
	b  bytes.Buffer
}

func (s *syncBuffer) Write(p []byte) (int, error) {
	s.mu.Lock()
	defer s.mu.Unlock()
	return s.b.Write(p)
}

func (s *syncBuffer) String() string {
	s.mu.Lock()
	defer s.mu.Unlock()
	return s.b.String()
}

func textLogger(w *syncBuffer) *slog.Logger {
	return slog.New(slog.NewTextHandler(w, nil))
}

// b64 is base64url without padding.
func b64(s string) string { return base64.RawURLEncoding.EncodeToString([]byte(s)) }

// flip changes the first character of a base64url segment.
func flip(s string) string {
	if s == "" {
		return "A"
	}
	c := byte('A')
	if s[0] == 'A' {
		c = 'B'
	}
	return string(c) + s[1:]
}

// reheader rewrites tok's protected header (nil deletes a member), keeping
// its payload and signature.
func reheader(t testing.TB, tok string, set map[string]any) string {
	t.Helper()
	h := header(t, tok)
	for k, v := range set {
		if v == nil {
			delete(h, k)
		} else {
			h[k] = v
		}
	}
	b, err := json.Marshal(h)
	if err != nil {
		t.Fatal(err)
	}
	_, rest, _ := strings.Cut(tok, ".")
	return base64.RawURLEncoding.EncodeToString(b) + "." + rest
}

// keyByKid is m's key with kid.
func keyByKid(t testing.TB, m *Manager, kid string) *key {
	t.Helper()
	k := m.set.Load().byKid[kid]
	if k == nil {
		t.Fatalf("no key %s", kid)
	}
	return k
}

// hmacToken is an HS256 token over payload (already base64url) with secret.
func hmacToken(t testing.TB, secret []byte, kid, payload string) string {
	t.Helper()
	input := b64(`{"alg":"HS256","kid":"`+kid+`","typ":"JWT"}`) + "." + payload
	mac := hmac.New(sha256.New, secret)
	mac.Write([]byte(input))
	tok := input + "." + base64.RawURLEncoding.EncodeToString(mac.Sum(nil))
	mustVerifyNaively(t, tok, jose.HS256, secret)
	return tok
}

// mustVerifyNaively checks that an attack token is well formed: a verifier
// that let the token choose its algorithm would accept it.
func mustVerifyNaively(t testing.TB, tok string, alg jose.SignatureAlgorithm, key any) {
	t.Helper()
	jws, err := jose.ParseSigned(tok, []jose.SignatureAlgorithm{alg})
	if err != nil {
		t.Fatalf("attack token does not parse: %v", err)
	}
	if _, err := jws.Verify(key); err != nil {
		t.Fatalf("attack token does not verify naively: %v", err)
	}
}

func publicDER(t testing.TB, m *Manager, kid string) []byte {
	t.Helper()
	der, err := x509.MarshalPKIXPublicKey(keyByKid(t, m, kid).priv.Public())
	if err != nil {
		t.Fatal(err)
	}
	return der
}

func publicPEM(t testing.TB, m *Manager, kid string) []byte {
	t.Helper()
	return pem.EncodeToMemory(&pem.Block{Type: "PUBLIC KEY", Bytes: publicDER(t, m, kid)})
}

func jwkJSON(t testing.TB, m *Manager, kid string) []byte {
	t.Helper()
	return keyByKid(t, m, kid).jwk
}

// signWith signs payload (base64url) with m's key kid under another
// algorithm of the same family.
func signWith(t testing.TB, m *Manager, kid string, alg jose.SignatureAlgorithm, payload string) string {
	t.Helper()
	raw, err := base64.RawURLEncoding.DecodeString(payload)
	if err != nil {
		t.Fatal(err)
	}
	s, err := jose.NewSigner(jose.SigningKey{Algorithm: alg, Key: jose.JSONWebKey{Key: keyByKid(t, m, kid).priv, KeyID: kid}}, nil)
	if err != nil {
		t.Fatal(err)
	}
	jws, err := s.Sign(raw)
	if err != nil {
		t.Fatal(err)
	}
	tok, err := jws.CompactSerialize()
	if err != nil {
		t.Fatal(err)
	}
	mustVerifyNaively(t, tok, alg, keyByKid(t, m, kid).priv.Public())
	return tok
}

// jsonSerialized is a valid signature by m's key kid in the JWS JSON
// serialization.
func jsonSerialized(t testing.TB, m *Manager, kid, payload string) string {
	t.Helper()
	raw, err := base64.RawURLEncoding.DecodeString(payload)
	if err != nil {
		t.Fatal(err)
	}
	k := keyByKid(t, m, kid)
	s, err := k.signer("JWT")
	if err != nil {
		t.Fatal(err)
	}
	jws, err := s.Sign(raw)
	if err != nil {
		t.Fatal(err)
	}
	tok := jws.FullSerialize()
	mustVerifyNaively(t, tok, jose.SignatureAlgorithm(k.alg), k.priv.Public())
	return tok
}

// embeddedJWK signs payload with a stranger's key and embeds its public
// key in the header instead of a kid.
func embeddedJWK(t testing.TB, payload string) string {
	t.Helper()
	raw, err := base64.RawURLEncoding.DecodeString(payload)
	if err != nil {
		t.Fatal(err)
	}
	priv, err := ecdsa.GenerateKey(elliptic.P256(), rand.Reader)
	if err != nil {
		t.Fatal(err)
	}
	s, err := jose.NewSigner(jose.SigningKey{Algorithm: jose.ES256, Key: priv}, (&jose.SignerOptions{EmbedJWK: true}))
	if err != nil {
		t.Fatal(err)
	}
	jws, err := s.Sign(raw)
	if err != nil {
		t.Fatal(err)
	}
	tok, err := jws.CompactSerialize()
	if err != nil {
		t.Fatal(err)
	}
	return tok
}
