package keys

import (
	"bytes"
	"strings"
	"testing"
)

// FuzzVerify feeds mutated tokens to Verify: it must never panic, and must
// accept only what the manager signed — an accepted token carries one of
// the payloads signed here, under the header values they were signed with.
func FuzzVerify(f *testing.F) {
	clk := newClock(t0)
	m := newManager(f, newStore(f, clk), clk, Options{})
	type signed struct{ payload, alg, typ string }
	var issued []signed
	for _, alg := range []string{RS256, ES256} {
		for _, typ := range []string{"JWT", "at+jwt"} {
			claims := map[string]any{"sub": "alice", "alg": alg, "typ": typ, "exp": 1}
			tok, err := m.Sign(alg, typ, claims)
			if err != nil {
				f.Fatal(err)
			}
			p, _, err := m.Verify(tok)
			if err != nil {
				f.Fatal(err)
			}
			issued = append(issued, signed{string(p), alg, typ})
			f.Add(tok)
			parts := strings.Split(tok, ".")
			f.Add(parts[0] + "." + b64(`{"sub":"admin"}`) + "." + parts[2])
			f.Add(b64(`{"alg":"none","kid":"`+kidOf(f, tok)+`"}`) + "." + parts[1] + ".")
			f.Add(hmacToken(f, publicPEM(f, m, kidOf(f, tok)), kidOf(f, tok), parts[1]))
			f.Add(tok + "." + parts[2])
		}
	}
	f.Add("")
	f.Add("..")
	f.Add(`{"payload":"e30","signatures":[]}`)

	f.Fuzz(func(t *testing.T, token string) {
		payload, h, err := m.Verify(token)
		if err != nil {
			if payload != nil || h != (Header{}) {
				t.Fatalf("error %v with payload %q header %+v", err, payload, h)
			}
			return
		}
		for _, s := range issued {
			if bytes.Equal(payload, []byte(s.payload)) && h.Alg == s.alg && h.Typ == s.typ {
				return
			}
		}
		t.Fatalf("accepted a token it did not sign: payload %q header %+v", payload, h)
	})
}
