package e2e

import (
	"os"
	"path/filepath"
	"testing"
)

// TestCaddy runs examples/caddy/Caddyfile (forward_auth) in front of
// Gatehouse, configured with examples/forward-auth.yaml, and an app.
func TestCaddy(t *testing.T) {
	caddy := need(t, "caddy", "apt-get install -y caddy")
	dir := t.TempDir()
	s := newStack(t, dir, false)

	// The example as it is, with its placeholders set from the
	// environment; only the admin API is turned off and the listeners
	// kept on loopback.
	conf := rewrite(t, example(t, "caddy/Caddyfile"),
		"\tadmin localhost:2019\n", "\tadmin off\n\tdefault_bind 127.0.0.1\n")
	confPath := filepath.Join(dir, "Caddyfile")
	if err := os.WriteFile(confPath, []byte(conf), 0o600); err != nil {
		t.Fatal(err)
	}
	p := startProc(t, "caddy", dir, []string{
		"HOME=" + dir, "XDG_DATA_HOME=" + filepath.Join(dir, "data"), "XDG_CONFIG_HOME=" + filepath.Join(dir, "config"),
		"AUTH_SITE=" + s.auth,
		"APP_SITE=" + s.app,
		"GATEHOUSE=" + s.relay.addr(),
		"APP_UPSTREAM=" + s.up.addr(),
	}, caddy, "run", "--config", confPath, "--adapter", "caddyfile")
	p.waitListening(t, s.proxy)

	s.exercise(t)
}
