package main

import (
	"crypto/tls"
	"net/http"
	"path/filepath"
	"strings"
	"testing"
	"time"
)

// TestServe_WithoutConfigFile: with no configuration file, serve runs
// the demo only when the environment configures nothing to serve (or
// --demo asks for it); GATEHOUSE_* variables are served as the
// configuration, without a demo user or /demo/, and startup says which.
func TestServe_WithoutConfigFile(t *testing.T) {
	t.Chdir(t.TempDir()) // no ./gatehouse.yaml
	get := func(t *testing.T, base, path string) int {
		t.Helper()
		c := &http.Client{Timeout: 10 * time.Second,
			Transport:     &http.Transport{TLSClientConfig: &tls.Config{InsecureSkipVerify: true}},
			CheckRedirect: func(*http.Request, []*http.Request) error { return http.ErrUseLastResponse }}
		res, err := c.Get(base + path)
		if err != nil {
			t.Fatal(err)
		}
		res.Body.Close()
		return res.StatusCode
	}
	t.Run("no environment: the demo", func(t *testing.T) {
		addr := freePort(t)
		// Where to listen and where to keep data do not configure what to
		// serve (the container image sets both).
		env := map[string]string{"GATEHOUSE_SERVER_LISTEN": addr, "GATEHOUSE_STORE_BOLT_PATH": filepath.Join(t.TempDir(), "gh.db")}
		srv := startServe(t, env)
		srv.waitFor(t, "Gatehouse is listening")
		out := srv.stdout.String()
		if !strings.Contains(out, "no GATEHOUSE_* settings: starting the demo.") {
			t.Fatalf("startup does not say it runs the demo:\n%s", out)
		}
		m := passwordRE.FindStringSubmatch(out)
		if m == nil {
			t.Fatalf("no demo password printed:\n%s", out)
		}
		demoLogin(t, "https://"+addr, m[1])
	})
	t.Run("environment configuration: served, no demo", func(t *testing.T) {
		addr := freePort(t)
		db := filepath.Join(t.TempDir(), "gh.db")
		env := map[string]string{
			"GATEHOUSE_SERVER_LISTEN":     addr,
			"GATEHOUSE_SERVER_PUBLIC_URL": "https://" + addr,
			"GATEHOUSE_STORE_BOLT_PATH":   db,
			"GATEHOUSE_USERS_0_ID":        "u-alice",
			"GATEHOUSE_USERS_0_USERNAME":  "alice",
		}
		srv := startServe(t, env)
		srv.waitFor(t, "Gatehouse is listening")
		out := srv.stdout.String()
		want := "serving the configuration from the environment (GATEHOUSE_SERVER_PUBLIC_URL, GATEHOUSE_USERS_0_ID, GATEHOUSE_USERS_0_USERNAME), not the demo."
		if !strings.Contains(out, want) {
			t.Fatalf("startup does not say it serves the environment:\n%s", out)
		}
		if strings.Contains(out, "Gatehouse demo") || passwordRE.MatchString(out) {
			t.Fatalf("the demo was started:\n%s", out)
		}
		if !strings.Contains(srv.stderr.String(), "users=1") {
			t.Fatalf("the environment's user is not loaded:\n%s", srv.stderr)
		}
		if st := get(t, "https://"+addr, "/demo/"); st != http.StatusNotFound {
			t.Fatalf("GET /demo/: %d, want 404", st)
		}
		if err := srv.stop(t); err != nil {
			t.Fatal(err)
		}
		// No demo user was created: the demo on the same data creates it
		// now, and prints its password.
		demo := startServe(t, map[string]string{"GATEHOUSE_SERVER_LISTEN": addr, "GATEHOUSE_STORE_BOLT_PATH": db}, "--demo")
		demo.waitFor(t, "Gatehouse is listening")
		if !strings.Contains(demo.stdout.String(), "--demo: starting the demo.") || !passwordRE.MatchString(demo.stdout.String()) {
			t.Fatalf("the demo user existed before the demo ran:\n%s", demo.stdout)
		}
	})
	t.Run("demo.enabled from the environment: the demo", func(t *testing.T) {
		addr := freePort(t)
		env := map[string]string{"GATEHOUSE_SERVER_LISTEN": addr, "GATEHOUSE_STORE_BACKEND": "memory", "GATEHOUSE_DEMO_ENABLED": "true"}
		srv := startServe(t, env)
		srv.waitFor(t, "Gatehouse is listening")
		if out := srv.stdout.String(); !strings.Contains(out, "demo.enabled is set: starting the demo.") || !passwordRE.MatchString(out) {
			t.Fatalf("the demo did not start:\n%s", out)
		}
	})
}

func TestChooseDemo_ListenAddress(t *testing.T) {
	// The image's variables alone keep the demo, listening where they say.
	env := envFunc(map[string]string{"GATEHOUSE_SERVER_LISTEN": "0.0.0.0:8443", "GATEHOUSE_STORE_BOLT_PATH": "/data/gatehouse.db"})
	cfg, err := loadConfig("", env, &strings.Builder{})
	if err != nil {
		t.Fatal(err)
	}
	demo, _ := chooseDemo(false, false, cfg, env)
	if !demo || demoListenAddr(cfg.Server.Listen) != "0.0.0.0:8443" {
		t.Fatalf("demo %v on %s, want the demo on 0.0.0.0:8443", demo, demoListenAddr(cfg.Server.Listen))
	}
}
