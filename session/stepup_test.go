package session

import (
	"context"
	"errors"
	"net/http/httptest"
	"slices"
	"strings"
	"testing"
	"time"

	"github.com/gatehouse-sso/gatehouse/store/memory"
)

func TestStepUp(t *testing.T) {
	ctx := context.Background()
	st := memory.New()
	defer st.Close()
	m, err := New(st, Options{CookieName: "s", IdleTimeout: time.Hour, AbsoluteTimeout: 24 * time.Hour,
		Secrets: [][]byte{[]byte(strings.Repeat("k", 32))}})
	if err != nil {
		t.Fatal(err)
	}
	rec := httptest.NewRecorder()
	start, err := m.Start(ctx, rec, httptest.NewRequest("GET", "/", nil), "u1", []string{"pwd"})
	if err != nil {
		t.Fatal(err)
	}
	r := httptest.NewRequest("GET", "/", nil)
	r.AddCookie(rec.Result().Cookies()[0])

	// Another session id or user: refused, nothing changes.
	for _, tc := range []struct{ sid, uid string }{{"other", "u1"}, {start.SID, "u2"}, {"", "u1"}} {
		if _, err := m.StepUp(ctx, r, tc.sid, tc.uid, []string{"otp"}); !errors.Is(err, ErrSessionChanged) {
			t.Fatalf("step-up of %v: %v", tc, err)
		}
	}
	up, err := m.StepUp(ctx, r, start.SID, "u1", []string{"otp", "pwd"})
	if err != nil {
		t.Fatal(err)
	}
	got, err := m.Load(ctx, r)
	if err != nil {
		t.Fatal(err)
	}
	if !slices.Equal(got.AMR, []string{"pwd", "otp"}) || !slices.Equal(up.AMR, got.AMR) {
		t.Fatalf("amr after step-up: %v", got.AMR)
	}
	if got.SID != start.SID || got.ID != start.ID || !got.AuthTime.Equal(start.AuthTime) {
		t.Fatalf("step-up replaced the session: %+v vs %+v", got, start)
	}
	// A signed-out browser cannot be stepped up.
	if _, err := m.StepUp(ctx, httptest.NewRequest("GET", "/", nil), start.SID, "u1", []string{"otp"}); !errors.Is(err, ErrSessionChanged) {
		t.Fatalf("signed out: %v", err)
	}
}
