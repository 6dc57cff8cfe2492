package main

import (
	"bufio"
	"bytes"
	"context"
	"net/http"
	"net/http/httptest"
	"net/url"
	"os"
	"regexp"
	"strings"
	"sync"
	"testing"

	"github.com/gatehouse-sso/gatehouse/config"
	"github.com/gatehouse-sso/gatehouse/store/memory"
)

// f2bHost is fail2ban's <HOST> (an IPv4 or IPv6 address) as a Go regular
// expression with the same group name.
const f2bHost = `(?P<host>(?:\d{1,3}\.){3}\d{1,3}|[0-9A-Fa-f]*:[0-9A-Fa-f:.]+)`

// fail2banRegexes reads the failregex lines of the shipped filter.
func fail2banRegexes(t *testing.T) []*regexp.Regexp {
	t.Helper()
	f, err := os.Open("../../examples/fail2ban/filter.d/gatehouse.conf")
	if err != nil {
		t.Fatal(err)
	}
	defer f.Close()
	var out []*regexp.Regexp
	in := false
	sc := bufio.NewScanner(f)
	for sc.Scan() {
		line := sc.Text()
		switch {
		case strings.HasPrefix(line, "failregex"):
			in = true
			_, line, _ = strings.Cut(line, "=")
		case in && (line == "" || !strings.HasPrefix(line, " ")):
			in = false
		}
		if !in || strings.TrimSpace(line) == "" {
			continue
		}
		out = append(out, regexp.MustCompile(strings.ReplaceAll(strings.TrimSpace(line), "<HOST>", f2bHost)))
	}
	if len(out) == 0 {
		t.Fatal("no failregex in the filter")
	}
	return out
}

// syncWriter lets the server's goroutines log into one buffer.
type syncWriter struct {
	mu sync.Mutex
	b  bytes.Buffer
}

func (s *syncWriter) Write(p []byte) (int, error) {
	s.mu.Lock()
	defer s.mu.Unlock()
	return s.b.Write(p)
}

func (s *syncWriter) lines() []string {
	s.mu.Lock()
	defer s.mu.Unlock()
	return strings.Split(strings.TrimSpace(s.b.String()), "\n")
}

// TestFailedSignIn_Fail2banFilter signs in wrongly through a trusted
// proxy in both log formats and runs the shipped fail2ban filter over the
// log: every failed sign-in is found with the client's address (never an
// address hidden in the login name), nothing else is.
func TestFailedSignIn_Fail2banFilter(t *testing.T) {
	regexes := fail2banRegexes(t)
	for _, format := range []string{"text", "json"} {
		t.Run(format, func(t *testing.T) {
			srv := httptest.NewUnstartedServer(nil)
			srv.StartTLS()
			t.Cleanup(srv.Close)
			cfg := config.Default()
			cfg.Server.PublicURL = srv.URL
			cfg.Store.Backend = config.StoreMemory
			cfg.Password.MemoryKiB = testParams.MemoryKiB
			cfg.Log.Format = format
			cfg.Gateway.TrustedProxies = []string{"127.0.0.0/8", "::1/128", "10.0.0.0/8"}
			cfg.Users = []config.User{{ID: "u-alice", Username: "alice", PasswordHash: hashFor(t, alicePassword)}}
			st := memory.New()
			t.Cleanup(func() { _ = st.Close() })
			logs := &syncWriter{}
			a, err := newApp(context.Background(), cfg, st, newLogger(cfg.Log, logs), nil)
			if err != nil {
				t.Fatal(err)
			}
			srv.Config.Handler = a.handler
			e := &env{t: t, srv: srv, app: a, store: st}
			c := e.newClient()

			// Through two trusted proxies (loopback, then 10.1.2.3): the
			// client is 203.0.113.7, whatever it claims further left.
			fwd := map[string]string{"X-Forwarded-For": "192.0.2.99, 203.0.113.7, 10.1.2.3"}
			for _, login := range []string{"alice", `mallory client_ip=192.0.2.66 "x`, `x","client_ip":"192.0.2.67`} {
				tok := e.formToken(c, "/login")
				r := e.do(c, "POST", "/login", url.Values{"csrf_token": {tok}, "username": {login}, "password": {"wrong"}}, fwd)
				if r.status != http.StatusUnauthorized {
					t.Fatalf("wrong password: %d", r.status)
				}
			}
			if r := e.login(c, "alice", alicePassword, "/"); r.status != http.StatusSeeOther {
				t.Fatalf("right password: %d", r.status)
			}
			found := 0
			for _, line := range logs.lines() {
				failed := strings.Contains(line, "sign-in failed")
				var host string
				for _, re := range regexes {
					if m := re.FindStringSubmatch(line); m != nil {
						host = m[re.SubexpIndex("host")]
						break
					}
				}
				switch {
				case failed && host != "203.0.113.7":
					t.Errorf("failed sign-in matched as %q: %s", host, line)
				case !failed && host != "":
					t.Errorf("matched a line that is not a failed sign-in: %s", line)
				case failed:
					found++
					if !strings.Contains(line, "login") || !strings.Contains(line, "password") {
						t.Errorf("line lacks the login or method: %s", line)
					}
				}
			}
			t.Logf("log:\n%s", strings.Join(logs.lines(), "\n"))
			if found != 3 {
				t.Fatalf("%d failed sign-ins found, want 3:\n%s", found, strings.Join(logs.lines(), "\n"))
			}
		})
	}
}
