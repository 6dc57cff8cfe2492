package keys

import (
	"context"
	"crypto"
	"encoding/json"
	"errors"
	"net/http"
	"net/http/httptest"
	"slices"
	"strings"
	"sync"
	"testing"
	"time"

	"github.com/coreos/go-oidc/v3/oidc"
	"github.com/go-jose/go-jose/v4"

	"github.com/gatehouse-sso/gatehouse/store"
)

func TestSignVerify_RoundTripPerAlgorithm(t *testing.T) {
	clk := newClock(t0)
	m := newManager(t, newStore(t, clk), clk, Options{})
	claims := map[string]any{"sub": "u1", "scope": "openid profile"}
	want, _ := json.Marshal(claims)

	for _, alg := range []string{RS256, ES256} {
		t.Run(alg, func(t *testing.T) {
			tok, err := m.Sign(alg, "at+jwt", claims)
			if err != nil {
				t.Fatalf("Sign: %v", err)
			}
			if strings.Count(tok, ".") != 2 {
				t.Fatalf("token is not compact: %q", tok)
			}
			h := header(t, tok)
			if h["alg"] != alg || h["typ"] != "at+jwt" || h["kid"] == "" {
				t.Fatalf("header = %v", h)
			}

			payload, hdr, err := m.Verify(tok)
			if err != nil {
				t.Fatalf("Verify: %v", err)
			}
			if string(payload) != string(want) {
				t.Errorf("payload = %s, want %s", payload, want)
			}
			if hdr != (Header{Alg: alg, Kid: h["kid"].(string), Typ: "at+jwt"}) {
				t.Errorf("header = %+v", hdr)
			}

			// Independently: go-jose against the published JWKS.
			set := jwks(t, m)
			ks := set.Key(hdr.Kid)
			if len(ks) != 1 {
				t.Fatalf("JWKS has %d keys with kid %s", len(ks), hdr.Kid)
			}
			jws, err := jose.ParseSigned(tok, []jose.SignatureAlgorithm{jose.SignatureAlgorithm(alg)})
			if err != nil {
				t.Fatalf("ParseSigned: %v", err)
			}
			if got, err := jws.Verify(ks[0]); err != nil || string(got) != string(want) {
				t.Fatalf("go-jose Verify against JWKS = %s, %v", got, err)
			}
		})
	}
}

// TestGoOIDC_VerifiesTokens checks the tokens with the library relying
// parties use, fetching the JWKS over HTTP from Handler.
func TestGoOIDC_VerifiesTokens(t *testing.T) {
	clk := newClock(t0)
	m := newManager(t, newStore(t, clk), clk, Options{})
	srv := httptest.NewServer(m.Handler())
	t.Cleanup(srv.Close)
	ctx := context.Background()
	const issuer = "https://auth.example.com/api/auth"

	for _, alg := range []string{RS256, ES256} {
		t.Run(alg, func(t *testing.T) {
			tok := mustSign(t, m, alg, map[string]any{
				"iss": issuer, "aud": "app", "sub": "u1",
				"iat": t0.Unix(), "exp": t0.Add(time.Hour).Unix(),
			})

			remote := oidc.NewRemoteKeySet(ctx, srv.URL)
			if _, err := remote.VerifySignature(ctx, tok); err != nil {
				t.Fatalf("RemoteKeySet: %v", err)
			}
			v := oidc.NewVerifier(issuer, remote, &oidc.Config{
				ClientID: "app", SupportedSigningAlgs: []string{alg}, Now: clk.Now,
			})
			idt, err := v.Verify(ctx, tok)
			if err != nil {
				t.Fatalf("IDTokenVerifier: %v", err)
			}
			if idt.Subject != "u1" {
				t.Errorf("sub = %q", idt.Subject)
			}

			var pubs []crypto.PublicKey
			for _, k := range jwks(t, m).Keys {
				pubs = append(pubs, k.Key)
			}
			static := &oidc.StaticKeySet{PublicKeys: pubs}
			if _, err := static.VerifySignature(ctx, tok); err != nil {
				t.Fatalf("StaticKeySet: %v", err)
			}
		})
	}
}

func TestSign_RefusesAlgorithmsWithoutKey(t *testing.T) {
	clk := newClock(t0)
	m := newManager(t, newStore(t, clk), clk, Options{Algorithms: []string{RS256}})
	for _, alg := range []string{ES256, "none", "HS256", "RS512", ""} {
		if tok, err := m.Sign(alg, "JWT", map[string]any{"sub": "x"}); err == nil {
			t.Errorf("Sign(%q) = %q, want an error", alg, tok)
		}
	}
	if got := m.Algorithms(); !slices.Equal(got, []string{RS256}) {
		t.Errorf("Algorithms = %v", got)
	}
	if got := kids(t, m, ES256); len(got) != 0 {
		t.Errorf("JWKS has ES256 keys %v", got)
	}
}

func TestSign_RefusesUnmarshalableClaims(t *testing.T) {
	clk := newClock(t0)
	m := newManager(t, newStore(t, clk), clk, Options{Algorithms: []string{ES256}})
	if _, err := m.Sign(ES256, "JWT", map[string]any{"bad": make(chan int)}); err == nil {
		t.Fatal("Sign accepted a channel")
	}
}

func TestSign_OmitsEmptyTyp(t *testing.T) {
	clk := newClock(t0)
	m := newManager(t, newStore(t, clk), clk, Options{Algorithms: []string{ES256}})
	tok, err := m.Sign(ES256, "", map[string]any{"sub": "x"})
	if err != nil {
		t.Fatal(err)
	}
	if _, ok := header(t, tok)["typ"]; ok {
		t.Errorf("header has typ: %v", header(t, tok))
	}
	if _, h, err := m.Verify(tok); err != nil || h.Typ != "" {
		t.Fatalf("Verify = %+v, %v", h, err)
	}
}

func TestReplicas_SignWithTheSameKeys(t *testing.T) {
	clk := newClock(t0)
	st := newStore(t, clk)
	a := newManager(t, st, clk, Options{})
	b := newManager(t, st, clk, Options{})
	for _, alg := range []string{RS256, ES256} {
		ta, tb := mustSign(t, a, alg, "a"), mustSign(t, b, alg, "b")
		if kidOf(t, ta) != kidOf(t, tb) {
			t.Errorf("%s: replicas sign with %s and %s", alg, kidOf(t, ta), kidOf(t, tb))
		}
		if _, _, err := b.Verify(ta); err != nil {
			t.Errorf("%s: replica b refuses a's token: %v", alg, err)
		}
	}
	if string(a.JWKS()) != string(b.JWKS()) {
		t.Errorf("JWKS differ:\n%s\n%s", a.JWKS(), b.JWKS())
	}
}

func TestNew_ConcurrentReplicasConverge(t *testing.T) {
	clk := newClock(t0)
	st := newStore(t, clk)
	const n = 10
	ms := make([]*Manager, n)
	errs := make([]error, n)
	var wg sync.WaitGroup
	for i := range n {
		wg.Go(func() {
			ms[i], errs[i] = New(context.Background(), st, Options{Now: clk.Now})
		})
	}
	wg.Wait()
	for i, err := range errs {
		if err != nil {
			t.Fatalf("New #%d: %v", i, err)
		}
	}
	for _, alg := range []string{RS256, ES256} {
		want := kids(t, ms[0], alg)
		if len(want) != 2 || want[0] == want[1] {
			t.Fatalf("%s: want a current and a next key, JWKS has %v", alg, want)
		}
		sig := kidOf(t, mustSign(t, ms[0], alg, "x"))
		for i, m := range ms {
			if got := kids(t, m, alg); !slices.Equal(got, want) {
				t.Errorf("%s: manager %d publishes %v, manager 0 %v", alg, i, got, want)
			}
			if got := kidOf(t, mustSign(t, m, alg, "x")); got != sig {
				t.Errorf("%s: manager %d signs with %s, manager 0 with %s", alg, i, got, sig)
			}
		}
	}
}

func TestRotation(t *testing.T) {
	next := periodStart(t0, 1)
	for _, alg := range []string{RS256, ES256} {
		t.Run(alg, func(t *testing.T) {
			clk := newClock(t0)
			st := newStore(t, clk)
			m := newManager(t, st, clk, Options{Algorithms: []string{alg}})
			old := mustSign(t, m, alg, "old")
			oldKid := kidOf(t, old)
			published := kids(t, m, alg)
			if len(published) != 2 || published[0] != oldKid {
				t.Fatalf("JWKS at t0 = %v, want [current next] with current %s", published, oldKid)
			}
			nextKid := published[1]

			// The period ends: the key published ahead signs, without a
			// refresh (no I/O on the signing path).
			clk.Set(next)
			tok := mustSign(t, m, alg, "new")
			if kidOf(t, tok) != nextKid {
				t.Fatalf("after rotation signs with %s, want the pre-published %s", kidOf(t, tok), nextKid)
			}
			if err := m.Refresh(context.Background()); err != nil {
				t.Fatal(err)
			}
			got := kids(t, m, alg)
			if len(got) != 3 || got[0] != oldKid || got[1] != nextKid {
				t.Fatalf("JWKS after rotation = %v, want [old current next]", got)
			}

			// The old key verifies until its period end + Retain.
			clk.Set(next.Add(DefaultRetain - time.Nanosecond))
			if _, _, err := m.Verify(old); err != nil {
				t.Fatalf("old token refused before Retain elapsed: %v", err)
			}
			clk.Set(next.Add(DefaultRetain))
			if _, _, err := m.Verify(old); err == nil {
				t.Fatal("old token accepted after Retain elapsed")
			}
			if slices.Contains(kids(t, m, alg), oldKid) {
				t.Fatal("retired key still published after Retain")
			}
			if err := m.Refresh(context.Background()); err != nil {
				t.Fatal(err)
			}
			if got := kids(t, m, alg); len(got) != 2 || got[0] != nextKid {
				t.Fatalf("JWKS after Retain = %v", got)
			}
			// The store forgot it too: a new replica does not publish it.
			fresh := newManager(t, st, clk, Options{Algorithms: []string{alg}})
			if slices.Contains(kids(t, fresh, alg), oldKid) {
				t.Fatal("new replica publishes the expired key")
			}
			if _, err := st.Get(context.Background(), m.path(alg, m.epoch(t0))); !errors.Is(err, store.ErrNotFound) {
				t.Fatalf("expired key record: %v, want ErrNotFound", err)
			}
		})
	}
}

func TestRotation_NewReplicaPublishesRetiredKeys(t *testing.T) {
	clk := newClock(t0)
	st := newStore(t, clk)
	a := newManager(t, st, clk, Options{Algorithms: []string{ES256}})
	old := mustSign(t, a, ES256, "x")
	clk.Set(periodStart(t0, 1).Add(time.Hour))
	b := newManager(t, st, clk, Options{Algorithms: []string{ES256}})
	if _, _, err := b.Verify(old); err != nil {
		t.Fatalf("replica started after rotation refuses a retired key's token: %v", err)
	}
	if got := kids(t, b, ES256); len(got) != 3 || got[0] != kidOf(t, old) {
		t.Fatalf("JWKS = %v", got)
	}
}

func TestRecord_Format(t *testing.T) {
	clk := newClock(t0)
	st := newStore(t, clk)
	m := newManager(t, st, clk, Options{Algorithms: []string{RS256}})
	path := m.path(RS256, m.epoch(t0))
	b, err := st.Get(context.Background(), path)
	if err != nil {
		t.Fatalf("reading %s: %v", path, err)
	}
	var r map[string]any
	if err := json.Unmarshal(b, &r); err != nil {
		t.Fatal(err)
	}
	for _, f := range []string{"kid", "alg", "key", "not_before", "not_after"} {
		if _, ok := r[f]; !ok {
			t.Errorf("record lacks %q: %s", f, b)
		}
	}
	if r["kid"] != kidOf(t, mustSign(t, m, RS256, "x")) || r["alg"] != RS256 {
		t.Errorf("record kid/alg = %v/%v", r["kid"], r["alg"])
	}
	// The record lives through its period and Retain, then expires.
	end := periodStart(t0, 1).Add(DefaultRetain)
	clk.Set(end.Add(-time.Nanosecond))
	if _, err := st.Get(context.Background(), path); err != nil {
		t.Fatalf("record gone before period end + Retain: %v", err)
	}
	clk.Set(end)
	if _, err := st.Get(context.Background(), path); !errors.Is(err, store.ErrNotFound) {
		t.Fatalf("record after period end + Retain: %v", err)
	}
}

func TestRefresh_StoreFailureKeepsKeys(t *testing.T) {
	clk := newClock(t0)
	st := &flakyStore{Store: newStore(t, clk)}
	m := newManager(t, st, clk, Options{})
	before := string(m.JWKS())
	tokens := map[string]string{RS256: mustSign(t, m, RS256, "x"), ES256: mustSign(t, m, ES256, "x")}

	st.down.Store(true)
	if err := m.Refresh(context.Background()); !errors.Is(err, errDown) {
		t.Fatalf("Refresh with the store down = %v", err)
	}
	if got := string(m.JWKS()); got != before {
		t.Fatalf("JWKS changed on a failed refresh:\n%s\n%s", before, got)
	}
	for alg, tok := range tokens {
		if _, _, err := m.Verify(tok); err != nil {
			t.Errorf("%s: Verify after failed refresh: %v", alg, err)
		}
		if got := kidOf(t, mustSign(t, m, alg, "y")); got != kidOf(t, tok) {
			t.Errorf("%s: signing key changed to %s", alg, got)
		}
	}

	// Rotation goes on through the outage: the next key was loaded ahead.
	clk.Set(periodStart(t0, 1))
	if err := m.Refresh(context.Background()); err == nil {
		t.Fatal("Refresh with the store down succeeded")
	}
	for alg, tok := range tokens {
		if _, _, err := m.Verify(tok); err != nil {
			t.Errorf("%s: old token refused during outage: %v", alg, err)
		}
		if got := kidOf(t, mustSign(t, m, alg, "y")); got == kidOf(t, tok) {
			t.Errorf("%s: did not rotate during the outage", alg)
		}
	}

	st.down.Store(false)
	if err := m.Refresh(context.Background()); err != nil {
		t.Fatalf("Refresh after recovery: %v", err)
	}
	for _, alg := range []string{RS256, ES256} {
		if got := kids(t, m, alg); len(got) != 3 {
			t.Errorf("%s: JWKS after recovery = %v, want old, current, next", alg, got)
		}
	}
}

func TestRefresh_RestoresAKeyMissingFromTheStore(t *testing.T) {
	clk := newClock(t0)
	st := newStore(t, clk)
	m := newManager(t, st, clk, Options{Algorithms: []string{ES256}})
	kid := kidOf(t, mustSign(t, m, ES256, "x"))
	path := m.path(ES256, m.epoch(t0))
	if err := st.Delete(context.Background(), path); err != nil {
		t.Fatal(err)
	}
	if err := m.Refresh(context.Background()); err != nil {
		t.Fatal(err)
	}
	other := newManager(t, st, clk, Options{Algorithms: []string{ES256}})
	if got := kidOf(t, mustSign(t, other, ES256, "x")); got != kid {
		t.Fatalf("after the record was lost, replicas sign with %s and %s", kid, got)
	}
}

func TestRun_LogsFailuresAndKeepsKeys(t *testing.T) {
	clk := newClock(t0)
	st := &flakyStore{Store: newStore(t, clk)}
	var logs syncBuffer
	m := newManager(t, st, clk, Options{Algorithms: []string{ES256}, RefreshInterval: time.Millisecond, Logger: textLogger(&logs)})
	tok := mustSign(t, m, ES256, "x")
	st.down.Store(true)

	ctx, cancel := context.WithCancel(context.Background())
	done := make(chan struct{})
	go func() { m.Run(ctx); close(done) }()
	deadline := time.Now().Add(5 * time.Second)
	for !strings.Contains(logs.String(), "refresh failed") {
		if time.Now().After(deadline) {
			t.Fatalf("no refresh failure logged; logs:\n%s", logs.String())
		}
		time.Sleep(time.Millisecond)
	}
	if _, _, err := m.Verify(tok); err != nil {
		t.Errorf("Verify during outage: %v", err)
	}
	cancel()
	<-done
	if strings.Contains(logs.String(), tok) {
		t.Error("a token reached the logs")
	}
}

func TestRun_ConvergesWithAnotherReplicaAfterRotation(t *testing.T) {
	clk := newClock(t0)
	st := newStore(t, clk)
	a := newManager(t, st, clk, Options{Algorithms: []string{ES256}, RefreshInterval: time.Millisecond})
	ctx, cancel := context.WithCancel(context.Background())
	done := make(chan struct{})
	go func() { a.Run(ctx); close(done) }()
	defer func() { cancel(); <-done }()

	// Two periods later, a and another replica race to create the keys.
	clk.Set(periodStart(t0, 2))
	b := newManager(t, st, clk, Options{Algorithms: []string{ES256}})
	want := kids(t, b, ES256)
	deadline := time.Now().Add(5 * time.Second)
	for !slices.Equal(kids(t, a, ES256), want) {
		if time.Now().After(deadline) {
			t.Fatalf("a publishes %v, b %v", kids(t, a, ES256), want)
		}
		time.Sleep(time.Millisecond)
	}
}

func TestVerify_Refuses(t *testing.T) {
	clk := newClock(t0)
	st := newStore(t, clk)
	m := newManager(t, st, clk, Options{})
	stranger := newManager(t, newStore(t, clk), clk, Options{})
	rsTok := mustSign(t, m, RS256, map[string]any{"sub": "alice"})
	esTok := mustSign(t, m, ES256, map[string]any{"sub": "alice"})
	rsKid, esKid := kidOf(t, rsTok), kidOf(t, esTok)
	parts := strings.Split(rsTok, ".")
	esParts := strings.Split(esTok, ".")

	cases := []struct {
		name, token string
	}{
		{"empty", ""},
		{"garbage", "not a token"},
		{"two parts", parts[0] + "." + parts[1]},
		{"four parts", rsTok + ".x"},
		{"tampered payload", parts[0] + "." + b64(`{"sub":"admin"}`) + "." + parts[2]},
		{"tampered signature", parts[0] + "." + parts[1] + "." + flip(parts[2])},
		{"empty signature", parts[0] + "." + parts[1] + "."},
		{"signature of another token", esParts[0] + "." + esParts[1] + "." + flip(esParts[2])},
		{"another issuer's key", mustSign(t, stranger, RS256, map[string]any{"sub": "alice"})},
		{"unknown kid", reheader(t, rsTok, map[string]any{"kid": "nope"})},
		{"no kid", reheader(t, rsTok, map[string]any{"kid": nil})},
		{"kid of the other algorithm's key", reheader(t, rsTok, map[string]any{"kid": esKid})},
		{"alg none", b64(`{"alg":"none","kid":"`+rsKid+`"}`) + "." + parts[1] + "."},
		{"alg none without kid", b64(`{"alg":"none"}`) + "." + parts[1] + "."},
		{"alg None", b64(`{"alg":"None","kid":"`+rsKid+`"}`) + "." + parts[1] + "."},
		{"HS256 with a guessed secret", hmacToken(t, []byte("0123456789abcdef0123456789abcdef"), rsKid, parts[1])},
		{"HS256 with the RSA public key (PEM) as secret", hmacToken(t, publicPEM(t, m, rsKid), rsKid, parts[1])},
		{"HS256 with the RSA public key (DER) as secret", hmacToken(t, publicDER(t, m, rsKid), rsKid, parts[1])},
		{"HS256 with the RSA public JWK as secret", hmacToken(t, jwkJSON(t, m, rsKid), rsKid, parts[1])},
		{"HS256 with the EC public key (PEM) as secret", hmacToken(t, publicPEM(t, m, esKid), esKid, parts[1])},
		{"RS512 with our own RSA key", signWith(t, m, rsKid, jose.RS512, parts[1])},
		{"PS256 with our own RSA key", signWith(t, m, rsKid, jose.PS256, parts[1])},
		{"JSON serialization", jsonSerialized(t, m, rsKid, parts[1])},
		{"embedded jwk instead of kid", embeddedJWK(t, parts[1])},
	}
	for _, c := range cases {
		t.Run(c.name, func(t *testing.T) {
			payload, h, err := m.Verify(c.token)
			if err == nil {
				t.Fatalf("accepted: payload %s, header %+v", payload, h)
			}
			if c.token != "" && len(c.token) > 20 && strings.Contains(err.Error(), c.token) {
				t.Errorf("error quotes the token: %v", err)
			}
		})
	}
}

func TestVerify_OnlyConfiguredAlgorithms(t *testing.T) {
	clk := newClock(t0)
	st := newStore(t, clk)
	both := newManager(t, st, clk, Options{})
	rsOnly := newManager(t, st, clk, Options{Algorithms: []string{RS256}})
	if _, _, err := rsOnly.Verify(mustSign(t, both, RS256, "x")); err != nil {
		t.Fatalf("RS256 refused: %v", err)
	}
	if _, _, err := rsOnly.Verify(mustSign(t, both, ES256, "x")); err == nil {
		t.Fatal("ES256 accepted by an RS256-only manager")
	}
}

func TestJWKS_Shape(t *testing.T) {
	clk := newClock(t0)
	m := newManager(t, newStore(t, clk), clk, Options{})
	clk.Set(periodStart(t0, 1))
	if err := m.Refresh(context.Background()); err != nil {
		t.Fatal(err)
	}
	var doc struct {
		Keys []map[string]any `json:"keys"`
	}
	if err := json.Unmarshal(m.JWKS(), &doc); err != nil {
		t.Fatal(err)
	}
	if len(doc.Keys) != 6 {
		t.Fatalf("JWKS has %d keys, want 3 per algorithm", len(doc.Keys))
	}
	var algs []string
	seen := map[string]bool{}
	for _, k := range doc.Keys {
		for _, f := range []string{"kid", "alg", "use", "kty"} {
			if _, ok := k[f]; !ok {
				t.Errorf("key lacks %q: %v", f, k)
			}
		}
		for _, f := range []string{"d", "p", "q", "dp", "dq", "qi"} {
			if _, ok := k[f]; ok {
				t.Fatalf("JWKS leaks private member %q", f)
			}
		}
		if k["use"] != "sig" {
			t.Errorf("use = %v", k["use"])
		}
		want := map[string]string{RS256: "RSA", ES256: "EC"}[k["alg"].(string)]
		if k["kty"] != want {
			t.Errorf("%v key has kty %v", k["alg"], k["kty"])
		}
		if seen[k["kid"].(string)] {
			t.Errorf("duplicate kid %v", k["kid"])
		}
		seen[k["kid"].(string)] = true
		algs = append(algs, k["alg"].(string))
	}
	if !slices.IsSorted(algs) {
		t.Errorf("keys not ordered by algorithm: %v", algs)
	}
	// Ordered by signing period within an algorithm: the middle key of
	// each algorithm is the one signing now.
	for i, alg := range []string{ES256, RS256} {
		if got, want := doc.Keys[3*i+1]["kid"], kidOf(t, mustSign(t, m, alg, "x")); got != want {
			t.Errorf("%s: middle key %v, signing key %v", alg, got, want)
		}
	}
	if a, b := string(m.JWKS()), string(m.JWKS()); a != b {
		t.Error("JWKS is not deterministic")
	}
	// kid is the RFC 7638 thumbprint.
	for _, k := range jwks(t, m).Keys {
		if tp, err := thumbprint(k.Key); err != nil || tp != k.KeyID {
			t.Errorf("kid %s, thumbprint %s (%v)", k.KeyID, tp, err)
		}
	}
}

func TestHandler(t *testing.T) {
	clk := newClock(t0)
	m := newManager(t, newStore(t, clk), clk, Options{})
	cases := []struct {
		method string
		status int
		body   bool
	}{
		{http.MethodGet, http.StatusOK, true},
		{http.MethodHead, http.StatusOK, false},
		{http.MethodPost, http.StatusMethodNotAllowed, false},
		{http.MethodPut, http.StatusMethodNotAllowed, false},
		{http.MethodDelete, http.StatusMethodNotAllowed, false},
		{http.MethodOptions, http.StatusMethodNotAllowed, false},
	}
	for _, c := range cases {
		t.Run(c.method, func(t *testing.T) {
			rec := httptest.NewRecorder()
			m.Handler().ServeHTTP(rec, httptest.NewRequest(c.method, "/.well-known/jwks.json", nil))
			if rec.Code != c.status {
				t.Fatalf("status = %d, want %d", rec.Code, c.status)
			}
			if c.status == http.StatusMethodNotAllowed {
				if got := rec.Header().Get("Allow"); got != "GET, HEAD" {
					t.Errorf("Allow = %q", got)
				}
				return
			}
			for h, want := range map[string]string{
				"Content-Type":                "application/json",
				"Cache-Control":               "public, max-age=300",
				"Access-Control-Allow-Origin": "*",
			} {
				if got := rec.Header().Get(h); got != want {
					t.Errorf("%s = %q, want %q", h, got, want)
				}
			}
			if c.body && rec.Body.String() != string(m.JWKS()) {
				t.Errorf("body = %s", rec.Body)
			}
		})
	}
}

func TestNew_RefusesBadOptions(t *testing.T) {
	clk := newClock(t0)
	st := newStore(t, clk)
	cases := []struct {
		name string
		st   store.Store
		o    Options
		want string
	}{
		{"alg none", st, Options{Algorithms: []string{"none"}}, `"none"`},
		{"HS256", st, Options{Algorithms: []string{RS256, "HS256"}}, `"HS256"`},
		{"lowercase", st, Options{Algorithms: []string{"rs256"}}, `"rs256"`},
		{"short rotation", st, Options{RotationPeriod: time.Minute}, "rotation period"},
		{"negative retain", st, Options{Retain: -time.Second}, "retain"},
		{"retain over many periods", st, Options{RotationPeriod: time.Hour, Retain: 1000 * time.Hour}, "retain"},
		{"negative refresh", st, Options{RefreshInterval: -time.Second}, "refresh interval"},
		{"no store", nil, Options{}, "store"},
	}
	for _, c := range cases {
		t.Run(c.name, func(t *testing.T) {
			c.o.Now = clk.Now
			_, err := New(context.Background(), c.st, c.o)
			if err == nil || !strings.Contains(err.Error(), c.want) {
				t.Fatalf("New = %v, want an error mentioning %s", err, c.want)
			}
		})
	}
}

func TestNew_StoreDownFails(t *testing.T) {
	clk := newClock(t0)
	st := &flakyStore{Store: newStore(t, clk)}
	st.down.Store(true)
	if _, err := New(context.Background(), st, Options{Now: clk.Now}); !errors.Is(err, errDown) {
		t.Fatalf("New with the store down = %v", err)
	}
}

func TestNew_RefusesAForeignRecord(t *testing.T) {
	clk := newClock(t0)
	st := newStore(t, clk)
	// A record written under another rotation period.
	other := newManager(t, st, clk, Options{Algorithms: []string{ES256}})
	e := other.epoch(t0)
	b, err := st.Get(context.Background(), other.path(ES256, e))
	if err != nil {
		t.Fatal(err)
	}
	if err := st.Put(context.Background(), other.path(ES256, e+1), b, 0); err != nil {
		t.Fatal(err)
	}
	_, err = New(context.Background(), st, Options{Algorithms: []string{ES256}, Now: clk.Now})
	if err == nil || !strings.Contains(err.Error(), other.path(ES256, e+1)) {
		t.Fatalf("New = %v, want an error naming the record", err)
	}
}
