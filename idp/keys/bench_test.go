package keys

import (
	"testing"
	"time"
)

// idTokenClaims is a typical ID token body.
func idTokenClaims() map[string]any {
	return map[string]any{
		"iss": "https://auth.example.com", "sub": "4f1c0c6e-8a0b-4d8e-9a57-2b1f0c1d2e3f",
		"aud": "kuploy", "exp": t0.Add(time.Hour).Unix(), "iat": t0.Unix(), "auth_time": t0.Unix(),
		"nonce": "n-0S6_WzA2Mj", "azp": "kuploy", "sid": "b0f2c1e4", "amr": []string{"pwd"},
		"at_hash": "77QmUPtjPfzWtF2AnpK9RQ",
	}
}

func BenchmarkSign(b *testing.B) {
	clk := newClock(t0)
	m := newManager(b, newStore(b, clk), clk, Options{})
	claims := idTokenClaims()
	for _, alg := range []string{RS256, ES256} {
		b.Run(alg, func(b *testing.B) {
			b.ReportAllocs()
			for b.Loop() {
				if _, err := m.Sign(alg, "JWT", claims); err != nil {
					b.Fatal(err)
				}
			}
		})
	}
}

func BenchmarkVerify(b *testing.B) {
	clk := newClock(t0)
	m := newManager(b, newStore(b, clk), clk, Options{})
	for _, alg := range []string{RS256, ES256} {
		tok := mustSign(b, m, alg, idTokenClaims())
		b.Run(alg, func(b *testing.B) {
			b.ReportAllocs()
			for b.Loop() {
				if _, _, err := m.Verify(tok); err != nil {
					b.Fatal(err)
				}
			}
		})
	}
}
