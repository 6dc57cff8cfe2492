package main

import (
	"crypto/tls"
	"io"
	"net/http"
	"net/http/cookiejar"
	"net/url"
	"os"
	"path/filepath"
	"strings"
	"syscall"
	"testing"
	"time"
)

// reloadConfig is a configuration file for TestServe_ReloadOnSIGHUP:
// users (name → password hash) and route hosts.
func reloadConfig(addr, extra string, users map[string]string, hosts ...string) string {
	var b strings.Builder
	b.WriteString("server:\n  listen: \"" + addr + "\"\n  public_url: \"https://" + addr + "\"\n")
	b.WriteString("store:\n  backend: memory\npassword:\n  memory_kib: 8192\nusers:\n")
	for name, hash := range users {
		b.WriteString("  - id: u-" + name + "\n    username: " + name + "\n    password_hash: \"" + hash + "\"\n")
	}
	b.WriteString("gateway:\n  routes:\n")
	for _, h := range hosts {
		b.WriteString("    - host: " + h + "\n      upstreams: [\"http://127.0.0.1:9\"]\n")
	}
	b.WriteString("  rules:\n    - name: apps\n      hosts: [" + strings.Join(hosts, ", ") + "]\n      decision: authenticated\n")
	b.WriteString(extra)
	return b.String()
}

// TestServe_ReloadOnSIGHUP: SIGHUP to the serving process adds a user and
// a route without a restart, names the settings that need one, and a
// broken file afterwards is refused with every problem logged while the
// last good configuration keeps serving.
func TestServe_ReloadOnSIGHUP(t *testing.T) {
	addr := freePort(t)
	path := filepath.Join(t.TempDir(), "gatehouse.yaml")
	alice, bob := string(hashFor(t, alicePassword)), string(hashFor(t, bobPassword))
	write := func(s string) {
		t.Helper()
		if err := os.WriteFile(path, []byte(s), 0o600); err != nil {
			t.Fatal(err)
		}
	}
	write(reloadConfig(addr, "", map[string]string{"alice": alice}, "app.example.com"))
	srv := startServe(t, nil, "--config", path)
	srv.waitFor(t, "Gatehouse is listening")

	base := "https://" + addr
	signIn := func(user, password string) int {
		t.Helper()
		jar, _ := cookiejar.New(nil)
		c := &http.Client{Jar: jar, Timeout: 10 * time.Second,
			Transport:     &http.Transport{TLSClientConfig: &tls.Config{InsecureSkipVerify: true}},
			CheckRedirect: func(*http.Request, []*http.Request) error { return http.ErrUseLastResponse }}
		res, err := c.Get(base + "/login")
		if err != nil {
			t.Fatal(err)
		}
		page, _ := io.ReadAll(res.Body)
		res.Body.Close()
		tok := csrfRE.FindStringSubmatch(string(page))
		if tok == nil {
			t.Fatalf("no CSRF token on the sign-in page: %d", res.StatusCode)
		}
		res, err = c.PostForm(base+"/login", url.Values{"csrf_token": {tok[1]}, "username": {user}, "password": {password}})
		if err != nil {
			t.Fatal(err)
		}
		res.Body.Close()
		return res.StatusCode
	}
	hostStatus := func(host string) int {
		t.Helper()
		req, _ := http.NewRequest("GET", base+"/", nil)
		req.Host = host
		req.Header.Set("Accept", "text/html")
		c := &http.Client{Timeout: 10 * time.Second,
			Transport:     &http.Transport{TLSClientConfig: &tls.Config{InsecureSkipVerify: true}},
			CheckRedirect: func(*http.Request, []*http.Request) error { return http.ErrUseLastResponse }}
		res, err := c.Do(req)
		if err != nil {
			t.Fatal(err)
		}
		res.Body.Close()
		return res.StatusCode
	}
	hup := func(wait string) {
		t.Helper()
		before := strings.Count(srv.stderr.String(), wait)
		if err := syscall.Kill(os.Getpid(), syscall.SIGHUP); err != nil {
			t.Fatal(err)
		}
		deadline := time.Now().Add(20 * time.Second)
		for strings.Count(srv.stderr.String(), wait) == before {
			if time.Now().After(deadline) {
				t.Fatalf("no %q after SIGHUP:\n%s", wait, srv.stderr)
			}
			time.Sleep(20 * time.Millisecond)
		}
	}

	if got := signIn("alice", alicePassword); got != http.StatusSeeOther {
		t.Fatalf("alice before the reload: %d", got)
	}
	if got := signIn("bob", bobPassword); got == http.StatusSeeOther {
		t.Fatal("bob signed in before he was configured")
	}
	if got := hostStatus("new.example.com"); got != http.StatusMisdirectedRequest {
		t.Fatalf("unconfigured host before the reload: %d, want 421", got)
	}

	// Add bob and a route; also change a listener setting, which needs a
	// restart.
	write(reloadConfig(addr, "", map[string]string{"alice": alice, "bob": bob}, "app.example.com", "new.example.com") +
		"log:\n  level: debug\n")
	hup("configuration reloaded")
	if !strings.Contains(srv.stderr.String(), "log.level") {
		t.Errorf("the restart-only change is not named:\n%s", srv.stderr)
	}
	if got := signIn("bob", bobPassword); got != http.StatusSeeOther {
		t.Fatalf("bob after the reload: %d", got)
	}
	if got := hostStatus("new.example.com"); got != http.StatusFound {
		t.Fatalf("the new route after the reload: %d, want 302 to sign in", got)
	}

	// A broken file: refused, every problem logged, the last good
	// configuration keeps serving.
	write("server:\n  lisen: \":1\"\nlog:\n  level: loud\n")
	hup("reload refused")
	for _, want := range []string{"server.lisen: unknown key", "log.level: must be one of"} {
		if !strings.Contains(srv.stderr.String(), want) {
			t.Errorf("problem %q not logged:\n%s", want, srv.stderr)
		}
	}
	if got := signIn("bob", bobPassword); got != http.StatusSeeOther {
		t.Fatalf("bob after a refused reload: %d", got)
	}
	if got := hostStatus("new.example.com"); got != http.StatusFound {
		t.Fatalf("the route after a refused reload: %d", got)
	}
	if err := srv.stop(t); err != nil {
		t.Fatalf("stop after reloads: %v\n%s", err, srv.stderr)
	}
}
