package main

import (
	"bytes"
	"context"
	"runtime"
	"runtime/debug"
	"strings"
	"testing"

	"github.com/gatehouse-sso/gatehouse/config"
)

// TestHealthcheck runs the real serve and `gatehouse healthcheck` with the
// same environment: healthy over self-signed TLS while it serves, exit 1
// once it stopped.
func TestHealthcheck(t *testing.T) {
	addr := freePort(t)
	env := map[string]string{
		"GATEHOUSE_SERVER_LISTEN": addr, "GATEHOUSE_SERVER_PUBLIC_URL": "https://localhost" + addr[strings.LastIndex(addr, ":"):],
		"GATEHOUSE_STORE_BACKEND": "memory",
	}
	srv := startServe(t, env, "--demo")
	srv.waitFor(t, "Gatehouse is listening")
	var out, errOut bytes.Buffer
	if err := run(context.Background(), []string{"healthcheck"}, envFunc(env), strings.NewReader(""), &out, &errOut); err != nil {
		t.Fatalf("healthcheck of a serving gatehouse: %v\n%s", err, errOut.String())
	}
	if !strings.Contains(out.String(), "/healthz: ok") {
		t.Fatalf("output %q", out.String())
	}
	if err := srv.stop(t); err != nil {
		t.Fatal(err)
	}
	if err := run(context.Background(), []string{"healthcheck", "--timeout", "2s"}, envFunc(env), strings.NewReader(""), &out, &errOut); err == nil {
		t.Fatal("healthcheck of a stopped gatehouse succeeded")
	}
}

func TestHealthURL(t *testing.T) {
	for _, c := range []struct {
		listen, mode, want string
	}{
		{":8443", config.TLSSelfSigned, "https://127.0.0.1:8443/healthz"},
		{"0.0.0.0:8443", config.TLSFiles, "https://127.0.0.1:8443/healthz"},
		{"[::]:8443", config.TLSACME, "https://[::1]:8443/healthz"},
		{"127.0.0.1:9000", config.TLSOff, "http://127.0.0.1:9000/healthz"},
		{"10.0.0.5:8443", config.TLSSelfSigned, "https://10.0.0.5:8443/healthz"},
	} {
		cfg := config.Default()
		cfg.Server.Listen, cfg.Server.TLS.Mode = c.listen, c.mode
		u, err := healthURL(cfg)
		if err != nil || u.String() != c.want {
			t.Errorf("listen %q, tls %s: %v %v, want %s", c.listen, c.mode, u, err, c.want)
		}
	}
}

func TestFormatVersion(t *testing.T) {
	toolchain := runtime.Version() + " " + runtime.GOOS + "/" + runtime.GOARCH
	rev := []debug.BuildSetting{{Key: "vcs.revision", Value: "0123456789abcdef0123"}, {Key: "vcs.modified", Value: "true"}}
	for _, c := range []struct {
		name, ld string
		info     *debug.BuildInfo
		want     string
	}{
		{"no build info", "dev", nil, "gatehouse dev (" + toolchain + ")"},
		{"go install module@version", "dev", &debug.BuildInfo{Main: debug.Module{Version: "v1.4.0"}},
			"gatehouse v1.4.0 (" + toolchain + ")"},
		{"checkout with local changes", "dev", &debug.BuildInfo{Main: debug.Module{Version: "(devel)"}, Settings: rev},
			"gatehouse dev (revision 0123456789ab, modified; " + toolchain + ")"},
		{"release build", "v2.0.1", &debug.BuildInfo{Main: debug.Module{Version: "(devel)"}, Settings: rev[:1]},
			"gatehouse v2.0.1 (revision 0123456789ab; " + toolchain + ")"},
	} {
		if got := formatVersion(c.ld, c.info); got != c.want {
			t.Errorf("%s: %q, want %q", c.name, got, c.want)
		}
	}
}
