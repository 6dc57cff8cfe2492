package proxy

import (
	"net/http"
	"testing"
	"time"

	"github.com/gatehouse-sso/gatehouse/policy"
)

// TestGateway_SecondFactorAsksForACR: a second_factor rule sends the
// browser to the IdP asking for a second factor (acr_values=2, which the
// IdP answers by stepping the session up), not for a new sign-in.
func TestGateway_SecondFactorAsksForACR(t *testing.T) {
	e := newTestEnv(t, nil)
	c := e.signIn(alice, "app.test")
	r := e.do("GET", e.url("app.test", "/.gatehouse/start?rd=%2Fsecure%2Fx"), nil, browser, c)
	loc := must(t, r.header.Get("Location"))
	if r.status != http.StatusFound || loc.Query().Get("acr_values") != "2" || loc.Query().Has("prompt") || loc.Query().Has("max_age") {
		t.Fatalf("start: %d %s", r.status, loc)
	}
}

func TestReauthOptions(t *testing.T) {
	now := time.Date(2026, 1, 1, 12, 0, 0, 0, time.UTC)
	fresh, old := now.Add(-time.Minute), now.Add(-2*time.Hour)
	for _, tc := range []struct {
		name string
		rule policy.Rule
		sub  policy.Subject
		want string
	}{
		{"factor missing", policy.Rule{SecondFactor: true}, policy.Subject{AMR: []string{"pwd"}, AuthTime: fresh}, "acr_values=2"},
		{"factor missing, fresh enough", policy.Rule{SecondFactor: true, MaxSessionAge: time.Hour}, policy.Subject{AMR: []string{"pwd"}, AuthTime: fresh}, "acr_values=2"},
		{"factor missing and too old", policy.Rule{SecondFactor: true, MaxSessionAge: time.Hour}, policy.Subject{AMR: []string{"pwd"}, AuthTime: old}, "acr_values=2&max_age=3600&prompt=login"},
		{"too old", policy.Rule{SecondFactor: true, MaxSessionAge: time.Hour}, policy.Subject{AMR: []string{"pwd", "otp"}, AuthTime: old}, "max_age=3600&prompt=login"},
		{"age rule only", policy.Rule{MaxSessionAge: time.Hour}, policy.Subject{AMR: []string{"pwd"}, AuthTime: old}, "max_age=3600&prompt=login"},
	} {
		if got := reauthParams(tc.rule, tc.sub, now).Encode(); got != tc.want {
			t.Errorf("%s: %s, want %s", tc.name, got, tc.want)
		}
	}
}
