package keys

import (
	"context"
	"errors"
	"slices"
	"sync/atomic"
	"testing"
	"time"

	"github.com/gatehouse-sso/gatehouse/store"
)

// TestRotationPeriodChange restarts with another rotation period: the key
// that signed before the restart keeps verifying and stays in the JWKS until
// its period end + Retain, whether the new period is shorter or longer, and
// the key taking over was published before it signs.
func TestRotationPeriodChange(t *testing.T) {
	const day = 24 * time.Hour
	for _, tc := range []struct {
		name     string
		from, to time.Duration
	}{
		{"30 days to 1 day", 30 * day, day},
		{"30 days to 1 hour", 30 * day, time.Hour},
		{"1 day to 30 days", day, 30 * day},
		{"1 hour to 30 days", time.Hour, 30 * day},
		{"7 days to 5 hours", 7 * day, 5 * time.Hour},
	} {
		for _, alg := range []string{RS256, ES256} {
			t.Run(tc.name+"/"+alg, func(t *testing.T) {
				ctx := context.Background()
				clk := newClock(t0)
				st := newStore(t, clk)
				before := newManager(t, st, clk, Options{Algorithms: []string{alg}, RotationPeriod: tc.from})
				tok := mustSign(t, before, alg, map[string]any{"sub": "alice"})
				kid := kidOf(t, tok)
				k := keyByKid(t, before, kid)

				// Restart with the other period a minute later.
				restart := t0.Add(time.Minute)
				clk.Set(restart)
				after := newManager(t, st, clk, Options{Algorithms: []string{alg}, RotationPeriod: tc.to})
				if _, _, err := after.Verify(tok); err != nil {
					t.Fatalf("token signed before the restart refused: %v", err)
				}
				atRestart := kids(t, after, alg)
				if !slices.Contains(atRestart, kid) {
					t.Fatalf("JWKS after the restart %v lacks the key that signed %s", atRestart, kid)
				}
				if got := kidOf(t, mustSign(t, after, alg, "x")); got != kid {
					t.Fatalf("right after the restart signs with %s, want %s until its period or the new one's ends", got, kid)
				}

				// The next key takes over at the earlier of the old key's
				// end and the new period's next boundary, and was
				// published at the restart (relying parties have it).
				p := int64(tc.to)
				boundary := time.Unix(0, (restart.UnixNano()/p+1)*p).UTC()
				switchAt := boundary
				if k.notAfter.Before(switchAt) {
					switchAt = k.notAfter
				}
				clk.Set(switchAt)
				next := kidOf(t, mustSign(t, after, alg, "x"))
				if next == kid || !slices.Contains(atRestart, next) {
					t.Fatalf("at %v signs with %s; the key before was %s, the JWKS at the restart %v", switchAt, next, kid, atRestart)
				}

				// Replicas agree: one started now signs with the same key
				// and verifies the old token.
				other := newManager(t, st, clk, Options{Algorithms: []string{alg}, RotationPeriod: tc.to})
				if got := kidOf(t, mustSign(t, other, alg, "x")); got != next {
					t.Fatalf("a replica started at %v signs with %s, the first with %s", switchAt, got, next)
				}
				if _, _, err := other.Verify(tok); err != nil {
					t.Fatalf("a replica started at %v refuses the old token: %v", switchAt, err)
				}

				// Up to the old key's end + Retain it verifies, through
				// refreshes and restarts.
				end := k.notAfter.Add(DefaultRetain)
				clk.Set(end.Add(-time.Nanosecond))
				if err := after.Refresh(ctx); err != nil {
					t.Fatal(err)
				}
				late := newManager(t, st, clk, Options{Algorithms: []string{alg}, RotationPeriod: tc.to})
				for name, m := range map[string]*Manager{"refreshed": after, "restarted": late} {
					if _, _, err := m.Verify(tok); err != nil {
						t.Errorf("%s: token refused before its key's end + Retain: %v", name, err)
					}
					if !slices.Contains(kids(t, m, alg), kid) {
						t.Errorf("%s: key unpublished before its end + Retain", name)
					}
				}

				// Then it is retired everywhere, and the store forgets it.
				clk.Set(end)
				if err := after.Refresh(ctx); err != nil {
					t.Fatal(err)
				}
				gone := newManager(t, st, clk, Options{Algorithms: []string{alg}, RotationPeriod: tc.to})
				for name, m := range map[string]*Manager{"refreshed": after, "restarted": gone} {
					if _, _, err := m.Verify(tok); err == nil {
						t.Errorf("%s: token accepted after its key's end + Retain", name)
					}
					if slices.Contains(kids(t, m, alg), kid) {
						t.Errorf("%s: retired key still published", name)
					}
				}
				if _, err := st.Get(ctx, k.path); !errors.Is(err, store.ErrNotFound) {
					t.Errorf("retired key's record: %v, want ErrNotFound", err)
				}
				members, err := st.SetMembers(ctx, indexSet)
				if err != nil {
					t.Fatal(err)
				}
				if slices.Contains(members, k.path) {
					t.Errorf("retired key still listed in %s", indexSet)
				}
			})
		}
	}
}

// TestRotationPeriodChange_BackAndForth changes the period twice: keys of
// both earlier periods stay published while their tokens live.
func TestRotationPeriodChange_BackAndForth(t *testing.T) {
	clk := newClock(t0)
	st := newStore(t, clk)
	opts := func(p time.Duration) Options { return Options{Algorithms: []string{ES256}, RotationPeriod: p} }
	a := newManager(t, st, clk, opts(DefaultRotationPeriod))
	tokA := mustSign(t, a, ES256, "a")
	clk.Set(t0.Add(2 * time.Hour))
	b := newManager(t, st, clk, opts(time.Hour))
	clk.Set(t0.Add(3*time.Hour + 30*time.Minute))
	tokB := mustSign(t, b, ES256, "b")
	if kidOf(t, tokB) == kidOf(t, tokA) {
		t.Fatal("the hourly period never took over")
	}
	clk.Set(t0.Add(5 * time.Hour))
	c := newManager(t, st, clk, opts(DefaultRotationPeriod))
	for _, tok := range []string{tokA, tokB} {
		if _, _, err := c.Verify(tok); err != nil {
			t.Errorf("token of kid %s refused after the second change: %v", kidOf(t, tok), err)
		}
	}
}

// TestLegacyRecords_AreAdoptedAndIndexed reads records stored under the
// path without the period (idp/keys/<alg>/<epoch>): the same period signs
// with them, and they survive a later change of period.
func TestLegacyRecords_AreAdoptedAndIndexed(t *testing.T) {
	ctx := context.Background()
	clk := newClock(t0)
	st := newStore(t, clk)
	old := newManager(t, st, clk, Options{Algorithms: []string{ES256}})
	tok := mustSign(t, old, ES256, "x")
	// Move every record to the former layout and empty the index.
	e := old.epoch(t0)
	for _, ep := range []int64{e, e + 1} {
		b, err := st.Get(ctx, old.path(ES256, ep))
		if err != nil {
			t.Fatal(err)
		}
		if err := st.Put(ctx, legacyPath(ES256, ep), b, old.start(ep+1).Add(DefaultRetain).Sub(t0)); err != nil {
			t.Fatal(err)
		}
		if err := st.Delete(ctx, old.path(ES256, ep)); err != nil {
			t.Fatal(err)
		}
		if err := st.SetRemove(ctx, indexSet, old.path(ES256, ep)); err != nil {
			t.Fatal(err)
		}
	}

	same := newManager(t, st, clk, Options{Algorithms: []string{ES256}})
	if got := kidOf(t, mustSign(t, same, ES256, "x")); got != kidOf(t, tok) {
		t.Fatalf("with a record in the former layout signs with %s, want %s", got, kidOf(t, tok))
	}
	if !slices.Equal(kids(t, same, ES256), kids(t, old, ES256)) {
		t.Fatalf("JWKS %v, before %v", kids(t, same, ES256), kids(t, old, ES256))
	}
	clk.Set(t0.Add(time.Hour))
	changed := newManager(t, st, clk, Options{Algorithms: []string{ES256}, RotationPeriod: time.Hour})
	if _, _, err := changed.Verify(tok); err != nil {
		t.Fatalf("after a change of period, a token of a former-layout key is refused: %v", err)
	}
}

// TestLegacyRecords_OfAnotherPeriodAreIgnored: a former-layout record with
// the slot's epoch number but another period's times is not this slot's key
// and does not stop the slot from getting one.
func TestLegacyRecords_OfAnotherPeriodAreIgnored(t *testing.T) {
	ctx := context.Background()
	clk := newClock(t0)
	st := newStore(t, clk)
	other := newManager(t, newStore(t, clk), clk, Options{Algorithms: []string{ES256}})
	b, err := other.st.Get(ctx, other.path(ES256, other.epoch(t0)))
	if err != nil {
		t.Fatal(err)
	}
	m0 := &Manager{period: time.Hour}
	e := m0.epoch(t0)
	if err := st.Put(ctx, legacyPath(ES256, e), b, 0); err != nil {
		t.Fatal(err)
	}
	m := newManager(t, st, clk, Options{Algorithms: []string{ES256}, RotationPeriod: time.Hour})
	k := m.set.Load().signing(ES256, t0, m.retain)
	if k == nil || k.notBefore != m.start(e) || k.kid == kidOf(t, mustSign(t, other, ES256, "x")) {
		t.Fatalf("signing key %+v, want a new key for [%v, %v)", k, m.start(e), m.start(e+1))
	}
}

// TestRefresh_IndexFailureIsRetried: a key the index could not list is
// used at once, and listed at a later refresh.
func TestRefresh_IndexFailureIsRetried(t *testing.T) {
	ctx := context.Background()
	clk := newClock(t0)
	st := &indexDownStore{Store: newStore(t, clk)}
	m := newManager(t, st, clk, Options{Algorithms: []string{ES256}})
	st.down.Store(true)
	clk.Set(periodStart(t0, 1))
	if err := m.Refresh(ctx); !errors.Is(err, errDown) {
		t.Fatalf("Refresh with the index unwritable = %v", err)
	}
	if got := kids(t, m, ES256); len(got) != 3 {
		t.Fatalf("JWKS %v, want old, current and the new next key", got)
	}
	next := m.path(ES256, m.epoch(periodStart(t0, 2)))
	members, _ := st.SetMembers(ctx, indexSet)
	if slices.Contains(members, next) {
		t.Fatal("the index lists a key it failed to list")
	}
	st.down.Store(false)
	if err := m.Refresh(ctx); err != nil {
		t.Fatal(err)
	}
	if members, _ = st.SetMembers(ctx, indexSet); !slices.Contains(members, next) {
		t.Fatalf("index %v lacks %s after the store recovered", members, next)
	}
}

// indexDownStore fails SetAdd while down is set.
type indexDownStore struct {
	store.Store
	down atomic.Bool
}

func (s *indexDownStore) SetAdd(ctx context.Context, set, member string, ttl time.Duration) error {
	if s.down.Load() {
		return errDown
	}
	return s.Store.SetAdd(ctx, set, member, ttl)
}
