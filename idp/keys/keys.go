// Package keys manages the OpenID provider's signing keys: RS256 and ES256
// keys generated on first start and kept in the store (so every replica
// signs with the same keys), rotated on a schedule with the next key
// published ahead and retired keys published until their tokens expire;
// or keys loaded from PEM files. It signs and verifies JWTs and serves the
// JWKS. `alg: none` and HMAC algorithms are never produced or accepted.
package keys

import (
	"bytes"
	"cmp"
	"context"
	"encoding/json"
	"errors"
	"fmt"
	"log/slog"
	"net/http"
	"slices"
	"strings"
	"sync"
	"sync/atomic"
	"time"

	"github.com/go-jose/go-jose/v4"

	"github.com/gatehouse-sso/gatehouse/store"
)

// Algorithms.
const (
	RS256 = "RS256"
	ES256 = "ES256"
)

// Options configures a Manager.
type Options struct {
	// Algorithms to keep a key for (RS256, ES256); default both. Only
	// these are accepted by Verify.
	Algorithms []string
	// RotationPeriod is the life of a generated key as the signing key;
	// default 30 days, at least MinRotationPeriod. Periods are aligned on
	// the Unix epoch, so every replica agrees on them without talking.
	RotationPeriod time.Duration
	// Retain is how long a key stays published after it stopped signing:
	// at least the longest lifetime of a token it signed. Default 24h.
	Retain time.Duration
	// Files are PEM private keys (PKCS#8, PKCS#1 RSA or SEC1 EC): RSA of at
	// least 2048 bits for RS256, P-256 for ES256, the algorithm inferred
	// from the key. When set, exactly these keys are used (one per
	// configured algorithm) and nothing is generated, stored or rotated.
	Files []string
	// RefreshInterval is how often keys are re-read from the store to pick
	// up another replica's rotation; default one minute.
	RefreshInterval time.Duration
	// Now is the clock; default time.Now.
	Now func() time.Time
	// Logger receives key generation and refresh failures; default discard.
	Logger *slog.Logger
}

// Defaults of Options.
const (
	DefaultRotationPeriod  = 30 * 24 * time.Hour
	DefaultRetain          = 24 * time.Hour
	DefaultRefreshInterval = time.Minute
)

// Limits on Options.
const (
	// MinRotationPeriod is the shortest rotation period accepted: relying
	// parties cache the JWKS for minutes, and the next key must reach them
	// before it signs.
	MinRotationPeriod = time.Hour
	// maxRetainedPeriods bounds how many past periods Retain may span, and
	// so how many store reads a refresh makes.
	maxRetainedPeriods = 64
)

// keyPrefix namespaces the key records in the store:
// idp/keys/<alg>/<period in ns>/<epoch>. Records written before the period
// was part of the path live at idp/keys/<alg>/<epoch> and are still read.
const keyPrefix = "idp/keys/"

// indexSet is the store set listing the path of every key record still
// published, whatever rotation period made it, so that a restart with
// another period keeps publishing the keys the previous one signed with.
const indexSet = "idp/keys-index"

// Manager holds the current keys in memory: signing and verifying never
// touch the store. It is safe for concurrent use.
type Manager struct {
	st       store.Store // nil in file mode
	files    bool
	algs     []string
	joseAlgs []jose.SignatureAlgorithm
	period   time.Duration
	retain   time.Duration
	interval time.Duration
	back     int64 // past epochs that may still be published
	now      func() time.Time
	log      *slog.Logger

	set       atomic.Pointer[keySet]
	refreshMu sync.Mutex // serialises Refresh
}

// keySet is an immutable snapshot of the keys.
type keySet struct {
	keys  []*key // by alg, then notBefore
	byKid map[string]*key
}

func newKeySet(keys []*key) *keySet {
	keys = slices.Clone(keys)
	slices.SortFunc(keys, func(a, b *key) int {
		return cmp.Or(cmp.Compare(a.alg, b.alg), a.notBefore.Compare(b.notBefore), cmp.Compare(a.kid, b.kid))
	})
	s := &keySet{keys: keys, byKid: make(map[string]*key, len(keys))}
	for _, k := range keys {
		s.byKid[k.kid] = k
	}
	return s
}

// slot returns the generated key of alg whose signing period is
// [notBefore, notAfter), or nil.
func (s *keySet) slot(alg string, notBefore, notAfter time.Time) *key {
	if s == nil {
		return nil
	}
	for _, k := range s.keys {
		if k.alg == alg && !k.file && k.notBefore.Equal(notBefore) && k.notAfter.Equal(notAfter) {
			return k
		}
	}
	return nil
}

// signing returns the key that signs for alg at now: among the keys whose
// signing period contains now, the one that started last (the key of the
// current period, or a key made under a previous rotation period that still
// runs while the new period's keys take over at their boundaries). If none
// does, because the store was unreachable when the current key should have
// been loaded, the published key that started last keeps signing.
func (s *keySet) signing(alg string, now time.Time, retain time.Duration) *key {
	var best, fallback *key
	for _, k := range s.keys {
		if k.alg != alg || !k.publishedAt(now, retain) || k.notBefore.After(now) {
			continue
		}
		if now.Before(k.notAfter) && (best == nil || k.notBefore.After(best.notBefore)) {
			best = k
		}
		if fallback == nil || k.notBefore.After(fallback.notBefore) {
			fallback = k
		}
	}
	if best != nil {
		return best
	}
	return fallback
}

// New loads (or, the first time, generates and stores) the keys.
func New(ctx context.Context, st store.Store, o Options) (*Manager, error) {
	m := &Manager{
		st:       st,
		files:    len(o.Files) > 0,
		period:   cmp.Or(o.RotationPeriod, DefaultRotationPeriod),
		retain:   cmp.Or(o.Retain, DefaultRetain),
		interval: cmp.Or(o.RefreshInterval, DefaultRefreshInterval),
		now:      o.Now,
		log:      o.Logger,
	}
	if m.now == nil {
		m.now = time.Now
	}
	if m.log == nil {
		m.log = slog.New(slog.DiscardHandler)
	}
	algs := o.Algorithms
	if len(algs) == 0 {
		algs = []string{RS256, ES256}
	}
	for _, a := range algs {
		if a != RS256 && a != ES256 {
			return nil, fmt.Errorf("keys: unsupported algorithm %q (supported: %s, %s)", a, RS256, ES256)
		}
		if !slices.Contains(m.algs, a) {
			m.algs = append(m.algs, a)
			m.joseAlgs = append(m.joseAlgs, jose.SignatureAlgorithm(a))
		}
	}
	switch {
	case m.period < MinRotationPeriod:
		return nil, fmt.Errorf("keys: rotation period %v is shorter than the minimum %v", m.period, MinRotationPeriod)
	case m.retain < 0:
		return nil, fmt.Errorf("keys: negative retain %v", m.retain)
	case m.interval < 0:
		return nil, fmt.Errorf("keys: negative refresh interval %v", m.interval)
	}
	m.back = int64((m.retain + m.period - 1) / m.period)
	if m.back > maxRetainedPeriods {
		return nil, fmt.Errorf("keys: retain %v spans more than %d rotation periods of %v", m.retain, maxRetainedPeriods, m.period)
	}

	if m.files {
		keys, err := loadFiles(o.Files, m.algs)
		if err != nil {
			return nil, err
		}
		m.set.Store(newKeySet(keys))
		return m, nil
	}
	if st == nil {
		return nil, errors.New("keys: a store is required unless key files are given")
	}
	if err := m.Refresh(ctx); err != nil {
		return nil, err
	}
	now, s := m.now(), m.set.Load()
	for _, a := range m.algs {
		if s.signing(a, now, m.retain) == nil {
			return nil, fmt.Errorf("keys: no signing key for %s after loading", a)
		}
	}
	return m, nil
}

// Run refreshes and rotates keys every RefreshInterval until ctx ends.
// Failures are logged and the keys already loaded stay in use. With key
// files there is nothing to refresh: Run just waits for ctx to end.
func (m *Manager) Run(ctx context.Context) {
	if m.files {
		<-ctx.Done()
		return
	}
	t := time.NewTicker(m.interval)
	defer t.Stop()
	for {
		select {
		case <-ctx.Done():
			return
		case <-t.C:
			if err := m.Refresh(ctx); err != nil && ctx.Err() == nil {
				m.log.Error("keys: refresh failed; keeping the keys already loaded", "err", err)
			}
		}
	}
}

// Refresh re-reads the keys from the store and rotates when due.
//
// It makes sure the keys of the current and the next rotation period exist
// (creating the missing ones; among replicas racing to create one, the
// first wins and the others adopt its key) and reloads the past periods'
// keys still published, including those made under another rotation period,
// found through the index set: changing the period never drops a key before
// the tokens it signed have expired. A key that cannot be read stays in use
// as loaded before, so a store outage never drops keys; the error is
// returned. Refresh is a no-op with key files.
func (m *Manager) Refresh(ctx context.Context) error {
	if m.files {
		return nil
	}
	m.refreshMu.Lock()
	defer m.refreshMu.Unlock()

	now := m.now()
	cur := m.epoch(now)
	old := m.set.Load()
	var (
		keys   []*key
		filled = make(map[slotID]bool)
		errs   []error
	)
	add := func(k *key) {
		if id := k.slotID(); !filled[id] {
			filled[id] = true
			keys = append(keys, k)
		}
	}

	// The slots of this period are read below; the index brings the keys
	// made under other rotation periods.
	ours := make(map[string]bool)
	for _, alg := range m.algs {
		for e := cur - m.back; e <= cur+1; e++ {
			ours[m.path(alg, e)] = true
		}
	}
	members, err := m.st.SetMembers(ctx, indexSet)
	if err != nil {
		errs = append(errs, fmt.Errorf("keys: listing %s: %w", indexSet, err))
	}
	for _, path := range members {
		if ours[path] {
			continue
		}
		k, err := m.loadIndexed(ctx, path, old)
		switch {
		case err != nil:
			errs = append(errs, err)
		case k != nil && k.publishedAt(now, m.retain):
			add(k)
		}
	}
	// Keep what could not be read (or vanished from the store) while it
	// is still published; a slot read below replaces its old key.
	var kept []*key
	if old != nil {
		for _, k := range old.keys {
			if !filled[k.slotID()] && k.publishedAt(now, m.retain) {
				kept = append(kept, k)
			}
		}
	}

	for _, alg := range m.algs {
		for e := cur - m.back; e <= cur+1; e++ {
			nb, na := m.start(e), m.start(e+1)
			if !now.Before(na.Add(m.retain)) {
				continue // retired for good
			}
			create := e > cur || (e == cur && !carriesOn(alg, nb, na, now, keys, kept))
			k, err := m.load(ctx, alg, e, now, create, old.slot(alg, nb, na))
			if err != nil {
				errs = append(errs, err)
				continue
			}
			if k != nil {
				add(k)
			}
		}
	}
	for _, k := range kept {
		add(k)
	}
	// List every key in the index, so that a restart with another period
	// still finds it. A failure is retried at the next refresh.
	for _, k := range keys {
		if k.indexed.Load() {
			continue
		}
		if ttl := k.notAfter.Add(m.retain).Sub(now); ttl > 0 {
			if err := m.st.SetAdd(ctx, indexSet, k.path, ttl); err != nil {
				errs = append(errs, fmt.Errorf("keys: listing %s in %s: %w", k.path, indexSet, err))
				continue
			}
		}
		k.indexed.Store(true)
	}
	m.set.Store(newKeySet(keys))
	return errors.Join(errs...)
}

// carriesOn reports whether a key of alg made under another rotation period
// signs at now and keeps signing until the next period's key takes over at
// na. The current period's key (signing period [nb, na)) is then not
// created: it would take over at once, before relying parties have seen it
// in the JWKS, while the next period's key is published ahead as usual.
func carriesOn(alg string, nb, na, now time.Time, sets ...[]*key) bool {
	for _, ks := range sets {
		for _, k := range ks {
			if k.alg == alg && !k.file && k.notBefore.Before(nb) && !k.notAfter.Before(na) && !now.Before(k.notBefore) {
				return true
			}
		}
	}
	return false
}

// loadIndexed reads the key record at path, listed in the index. A record
// that expired, or whose algorithm is no longer configured, yields nil.
func (m *Manager) loadIndexed(ctx context.Context, path string, old *keySet) (*key, error) {
	b, err := m.st.Get(ctx, path)
	switch {
	case errors.Is(err, store.ErrNotFound):
		return nil, nil
	case err != nil:
		return nil, fmt.Errorf("keys: reading %s: %w", path, err)
	}
	k, err := decodeRecord(b)
	if err != nil {
		return nil, fmt.Errorf("keys: reading %s: %w", path, err)
	}
	if !slices.Contains(m.algs, k.alg) {
		return nil, nil
	}
	if !strings.HasPrefix(path, keyPrefix+k.alg+"/") {
		return nil, fmt.Errorf("keys: reading %s: record holds a %s key", path, k.alg)
	}
	if c := old.slot(k.alg, k.notBefore, k.notAfter); c != nil && c.kid == k.kid {
		k = c // keep its signer cache
	}
	k.path = path
	k.indexed.Store(true)
	return k, nil
}

// path is where the key of alg for epoch e of this rotation period is
// stored.
func (m *Manager) path(alg string, e int64) string {
	return fmt.Sprintf("%s%s/%d/%d", keyPrefix, alg, int64(m.period), e)
}

// legacyPath is where a key of alg for epoch e was stored before the
// rotation period was part of the path. Such a record may belong to another
// period: its times tell.
func legacyPath(alg string, e int64) string {
	return fmt.Sprintf("%s%s/%d", keyPrefix, alg, e)
}

// load returns the key of alg for epoch e from the store. When the store has
// none and create is set, it stores cached (the key this replica already
// holds for the slot) or a new key, or adopts the one another replica
// stored first. Without create, a missing record yields nil.
func (m *Manager) load(ctx context.Context, alg string, e int64, now time.Time, create bool, cached *key) (*key, error) {
	path := m.path(alg, e)
	nb, na := m.start(e), m.start(e+1)
	read := func(path string, b []byte) (*key, error) {
		k, err := decodeRecord(b)
		if err == nil && (k.alg != alg || !k.notBefore.Equal(nb) || !k.notAfter.Equal(na)) {
			err = fmt.Errorf("record holds the %s key of [%v, %v), want %s of [%v, %v)", k.alg, k.notBefore, k.notAfter, alg, nb, na)
		}
		if err != nil {
			return nil, fmt.Errorf("keys: reading %s: %w", path, err)
		}
		if cached != nil {
			if cached.kid == k.kid {
				return cached, nil // keep its signer cache
			}
			m.log.Warn("keys: stored key replaces the one loaded before", "path", path, "kid", k.kid, "previous_kid", cached.kid)
		}
		k.path = path
		return k, nil
	}

	b, err := m.st.Get(ctx, path)
	switch {
	case err == nil:
		return read(path, b)
	case !errors.Is(err, store.ErrNotFound):
		return nil, fmt.Errorf("keys: reading %s: %w", path, err)
	}
	// A record of an earlier version, if it is this slot's key.
	lpath := legacyPath(alg, e)
	switch b, err := m.st.Get(ctx, lpath); {
	case err == nil:
		if k, err := read(lpath, b); err == nil {
			return k, nil
		}
		// Another period's key under the same number: not this slot's.
	case !errors.Is(err, store.ErrNotFound):
		return nil, fmt.Errorf("keys: reading %s: %w", lpath, err)
	}
	if !create {
		return nil, nil
	}

	k := cached
	if k == nil {
		priv, err := generate(alg)
		if err != nil {
			return nil, fmt.Errorf("keys: generating %s key: %w", alg, err)
		}
		if k, err = newKey(alg, priv); err != nil {
			return nil, fmt.Errorf("keys: generating %s key: %w", alg, err)
		}
		k.notBefore, k.notAfter, k.path = nb, na, path
	}
	rec, err := k.encode()
	if err != nil {
		return nil, fmt.Errorf("keys: storing %s: %w", path, err)
	}
	switch err := m.st.Create(ctx, path, rec, na.Add(m.retain).Sub(now)); {
	case err == nil:
		if cached != nil {
			m.log.Warn("keys: signing key was missing from the store; stored it again", "path", path, "kid", k.kid)
			k.indexed.Store(false)
		} else {
			m.log.Info("keys: generated signing key", "alg", alg, "kid", k.kid, "not_before", nb, "not_after", na)
		}
		return k, nil
	case errors.Is(err, store.ErrExists):
		b, err := m.st.Get(ctx, path)
		if err != nil {
			return nil, fmt.Errorf("keys: reading %s after losing the race to create it: %w", path, err)
		}
		return read(path, b)
	default:
		return nil, fmt.Errorf("keys: storing %s: %w", path, err)
	}
}

// epoch is the rotation period t falls in.
func (m *Manager) epoch(t time.Time) int64 {
	n, p := t.UnixNano(), int64(m.period)
	e := n / p
	if n%p < 0 {
		e--
	}
	return e
}

// start is when epoch e begins.
func (m *Manager) start(e int64) time.Time {
	return time.Unix(0, e*int64(m.period)).UTC()
}

// Sign serialises claims (any JSON-marshalable value) as a compact JWS
// signed with the current key for alg, with header "kid" and "typ" (for
// example "JWT", "at+jwt", "logout+jwt"). An empty typ leaves the header
// out.
func (m *Manager) Sign(alg, typ string, claims any) (string, error) {
	k := m.set.Load().signing(alg, m.now(), m.retain)
	if k == nil {
		return "", fmt.Errorf("keys: no signing key for algorithm %q", alg)
	}
	payload, err := json.Marshal(claims)
	if err != nil {
		return "", fmt.Errorf("keys: encoding claims: %w", err)
	}
	signer, err := k.signer(typ)
	if err != nil {
		return "", fmt.Errorf("keys: %w", err)
	}
	jws, err := signer.Sign(payload)
	if err != nil {
		return "", fmt.Errorf("keys: signing with %s: %w", alg, err)
	}
	tok, err := jws.CompactSerialize()
	if err != nil {
		return "", fmt.Errorf("keys: serialising token: %w", err)
	}
	return tok, nil
}

// Verify checks a compact JWS against every published key (current, next
// and retired) and returns its payload and header values. It refuses
// "none", HMAC and any algorithm not in Options.Algorithms, unknown kids,
// and more than one signature. It does not check claims (exp, aud...):
// callers do. Every error means the token is not acceptable; errors never
// quote the token.
func (m *Manager) Verify(token string) (payload []byte, h Header, err error) {
	s := m.set.Load()
	// Compact serialisation only: the JSON serialisation could carry
	// unprotected headers, and Gatehouse never issues it.
	jws, err := jose.ParseSignedCompact(token, m.joseAlgs)
	if err != nil {
		return nil, Header{}, fmt.Errorf("keys: parsing token: %w", err)
	}
	if len(jws.Signatures) != 1 {
		return nil, Header{}, errors.New("keys: token must carry exactly one signature")
	}
	sig := jws.Signatures[0]
	k := s.byKid[sig.Header.KeyID]
	if k == nil || !k.publishedAt(m.now(), m.retain) {
		return nil, Header{}, errors.New("keys: token signed by an unknown key")
	}
	if sig.Header.Algorithm != k.alg {
		return nil, Header{}, fmt.Errorf("keys: token algorithm %q does not match its key", sig.Header.Algorithm)
	}
	payload, err = jws.Verify(k.priv.Public())
	if err != nil {
		return nil, Header{}, fmt.Errorf("keys: verifying token: %w", err)
	}
	typ, _ := sig.Header.ExtraHeaders[jose.HeaderType].(string)
	return payload, Header{Alg: k.alg, Kid: k.kid, Typ: typ}, nil
}

// Header is what Verify reports of a JWS header.
type Header struct {
	Alg, Kid, Typ string
}

// Algorithms reports the algorithms keys exist for.
func (m *Manager) Algorithms() []string { return slices.Clone(m.algs) }

// JWKS returns the public key set as JSON (RFC 7517), every key with kid,
// alg and use "sig": the keys signing now, the next ones and the retired
// ones still published, ordered by algorithm and then signing period.
func (m *Manager) JWKS() []byte {
	now := m.now()
	var b bytes.Buffer
	b.WriteString(`{"keys":[`)
	first := true
	for _, k := range m.set.Load().keys {
		if !k.publishedAt(now, m.retain) {
			continue
		}
		if !first {
			b.WriteByte(',')
		}
		first = false
		b.Write(k.jwk)
	}
	b.WriteString("]}")
	return b.Bytes()
}

// jwksMaxAge is how long relying parties may cache the JWKS. It is far
// shorter than a rotation period, so the next key reaches them before it
// signs.
const jwksMaxAge = "public, max-age=300"

// Handler serves JWKS with Content-Type application/json and a short
// public cache lifetime, to any origin. Methods other than GET and HEAD get
// 405.
func (m *Manager) Handler() http.Handler {
	return http.HandlerFunc(func(w http.ResponseWriter, r *http.Request) {
		if r.Method != http.MethodGet && r.Method != http.MethodHead {
			w.Header().Set("Allow", "GET, HEAD")
			http.Error(w, http.StatusText(http.StatusMethodNotAllowed), http.StatusMethodNotAllowed)
			return
		}
		h := w.Header()
		h.Set("Content-Type", "application/json")
		h.Set("Cache-Control", jwksMaxAge)
		h.Set("Access-Control-Allow-Origin", "*")
		_, _ = w.Write(m.JWKS()) // a write error means the client went away
	})
}
