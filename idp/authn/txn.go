package authn

import (
	"context"
	"crypto/rand"
	"crypto/sha256"
	"crypto/subtle"
	"encoding/base64"
	"encoding/json"
	"errors"
	"fmt"
	"net/http"
	"slices"
	"time"

	"github.com/gatehouse-sso/gatehouse/store"
)

// Txn is one sign-in in progress.
type Txn struct {
	// ID is the store key's random part; empty while the transaction
	// lives only in memory.
	ID string `json:"-"`
	// Browser is the hash of the browser-binding cookie the transaction
	// was stored for.
	Browser string `json:"browser,omitempty"`
	// Created is when the sign-in began.
	Created time.Time `json:"created"`
	// Return is the validated target the browser goes to at the end.
	Return string `json:"return"`
	// Force asks for a sign-in even when the browser has a session
	// (prompt=login, max_age).
	Force bool `json:"force,omitempty"`
	// NoPrompt refuses every user-facing step (prompt=none).
	NoPrompt bool `json:"no_prompt,omitempty"`
	// LoginHint prefills the login name.
	LoginHint string `json:"login_hint,omitempty"`
	// RequireACR is the acr the sign-in must reach if a factor can give
	// it ("" for none).
	RequireACR string `json:"acr,omitempty"`
	// StepUpSID is the session being stepped up: the browser was signed
	// in, and the transaction only adds a factor to that session.
	StepUpSID string `json:"step_up_sid,omitempty"`
	// UserID and AMR are who was identified and how, so far.
	UserID string   `json:"uid,omitempty"`
	AMR    []string `json:"amr,omitempty"`
	// Step is the one step that may continue a stored transaction, and
	// Method the method it belongs to.
	Step   string `json:"step,omitempty"`
	Method string `json:"method,omitempty"`
	// State is per-method state (a redirect method's nonce, a factor's
	// challenge), by method name.
	State map[string][]byte `json:"state,omitempty"`
	// Used are the factors already answered in this transaction.
	Used []string `json:"used,omitempty"`
	// Ask is what the factor page shows for the current challenge.
	Ask *ask `json:"ask,omitempty"`
	// Failures counts wrong factor answers.
	Failures int `json:"failures,omitempty"`
}

// ask is a Challenge without its state.
type ask struct {
	Heading      string `json:"heading,omitempty"`
	Prompt       string `json:"prompt,omitempty"`
	Label        string `json:"label,omitempty"`
	Autocomplete string `json:"autocomplete,omitempty"`
}

// Steps a stored transaction waits at.
const (
	stepRedirect = "redirect"
	stepFactor   = "factor"
)

// addAMR adds amr values the transaction does not have yet.
func (t *Txn) addAMR(amr ...string) {
	for _, a := range amr {
		if !slices.Contains(t.AMR, a) {
			t.AMR = append(t.AMR, a)
		}
	}
}

// needsFactor reports whether the transaction's requirement is not met
// by what was proved so far.
func (t *Txn) needsFactor() bool { return !Satisfies(ACR(t.AMR), t.RequireACR) }

// txnTTL bounds a stored transaction: long enough to fetch an e-mail or
// sign in upstream, short enough that an abandoned one is gone soon.
const txnTTL = 10 * time.Minute

// txnIDLen is the length of an id: 32 random bytes, base64url.
const txnIDLen = 43

func txnKey(id string) string { return "authn-txn/" + id }

func randomString() string {
	var b [32]byte
	_, _ = rand.Read(b[:])
	return base64.RawURLEncoding.EncodeToString(b[:])
}

func validID(id string) bool {
	if len(id) != txnIDLen {
		return false
	}
	_, err := base64.RawURLEncoding.DecodeString(id)
	return err == nil
}

// errNoTxn means the transaction is unknown, expired, already completed,
// of another browser or not at this step.
var errNoTxn = errors.New("no such sign-in transaction")

// txns stores transactions and binds them to browsers.
type txns struct {
	st     store.Store
	now    func() time.Time
	cookie string
	secure bool
}

// bindingHash is what a transaction keeps of the browser's cookie.
func bindingHash(v string) string {
	sum := sha256.Sum256([]byte("gatehouse signin binding\x00" + v))
	return base64.RawURLEncoding.EncodeToString(sum[:])
}

// bind returns the browser's binding, setting the cookie first when the
// browser has none.
func (s *txns) bind(w http.ResponseWriter, r *http.Request) string {
	if c, err := r.Cookie(s.cookie); err == nil && len(c.Value) == txnIDLen {
		return bindingHash(c.Value)
	}
	v := randomString()
	http.SetCookie(w, &http.Cookie{
		Name: s.cookie, Value: v, Path: "/", Secure: s.secure, HttpOnly: true, SameSite: http.SameSiteLaxMode,
	})
	return bindingHash(v)
}

// save stores t (giving it an id the first time) for the browser of r.
func (s *txns) save(ctx context.Context, w http.ResponseWriter, r *http.Request, t *Txn) error {
	if t.ID == "" {
		t.ID = randomString()
	}
	if t.Browser == "" {
		t.Browser = s.bind(w, r)
	}
	b, err := json.Marshal(t)
	if err != nil {
		return fmt.Errorf("encode sign-in transaction: %w", err)
	}
	ttl := txnTTL - s.now().Sub(t.Created)
	if ttl <= 0 {
		return errNoTxn
	}
	if err := s.st.Put(ctx, txnKey(t.ID), b, ttl); err != nil {
		return fmt.Errorf("store sign-in transaction: %w", err)
	}
	return nil
}

// load returns the stored transaction id if it belongs to r's browser and
// waits at step; errNoTxn otherwise.
func (s *txns) load(ctx context.Context, r *http.Request, id, step string) (Txn, error) {
	if !validID(id) {
		return Txn{}, errNoTxn
	}
	raw, err := s.st.Get(ctx, txnKey(id))
	if errors.Is(err, store.ErrNotFound) {
		return Txn{}, errNoTxn
	}
	if err != nil {
		return Txn{}, fmt.Errorf("load sign-in transaction: %w", err)
	}
	var t Txn
	if err := json.Unmarshal(raw, &t); err != nil {
		return Txn{}, fmt.Errorf("decode sign-in transaction: %w", err)
	}
	t.ID = id
	c, cerr := r.Cookie(s.cookie)
	if cerr != nil || subtle.ConstantTimeCompare([]byte(bindingHash(c.Value)), []byte(t.Browser)) != 1 {
		return Txn{}, errNoTxn
	}
	if t.Step != step || s.now().Sub(t.Created) > txnTTL {
		return Txn{}, errNoTxn
	}
	return t, nil
}

// take removes a stored transaction at its completion; exactly one of
// concurrent completions gets nil.
func (s *txns) take(ctx context.Context, t Txn) error {
	if t.ID == "" {
		return nil // never stored: this request is the only one holding it
	}
	_, err := s.st.Take(ctx, txnKey(t.ID))
	if errors.Is(err, store.ErrNotFound) {
		return errNoTxn
	}
	if err != nil {
		return fmt.Errorf("complete sign-in transaction: %w", err)
	}
	return nil
}

// drop deletes a stored transaction that ended without a sign-in.
func (s *txns) drop(ctx context.Context, t Txn) {
	if t.ID != "" {
		_ = s.st.Delete(ctx, txnKey(t.ID))
	}
}
