package main

import (
	"bufio"
	"context"
	"os"
	"path/filepath"
	"strings"
	"testing"
	"time"
)

// unitFile reads a systemd unit's directives: key → values in order.
func unitFile(t *testing.T, path string) map[string][]string {
	t.Helper()
	f, err := os.Open(path)
	if err != nil {
		t.Fatal(err)
	}
	defer f.Close()
	out := map[string][]string{}
	sc := bufio.NewScanner(f)
	for sc.Scan() {
		line := strings.TrimSpace(sc.Text())
		if line == "" || line[0] == '#' || line[0] == ';' || line[0] == '[' {
			continue
		}
		k, v, ok := strings.Cut(line, "=")
		if !ok {
			t.Fatalf("%s: not a directive: %q", path, line)
		}
		out[k] = append(out[k], v)
	}
	return out
}

// TestSystemdUnit: the example unit is hardened, and the gatehouse
// commands it runs are real subcommands with real flags: each runs with
// the unit's arguments (the configuration path pointed at a test file).
func TestSystemdUnit(t *testing.T) {
	u := unitFile(t, "../../examples/systemd/gatehouse.service")
	for k, want := range map[string]string{
		"DynamicUser": "yes", "ProtectSystem": "strict", "StateDirectory": "gatehouse",
		"NoNewPrivileges": "yes", "ProtectHome": "yes", "PrivateTmp": "yes",
	} {
		if got := u[k]; len(got) != 1 || got[0] != want {
			t.Errorf("%s = %q, want %q", k, got, want)
		}
	}
	if len(u["ExecStart"]) != 1 {
		t.Fatalf("ExecStart = %q", u["ExecStart"])
	}
	// Reload is SIGHUP to the main process, which serve handles (see
	// TestServe_ReloadOnSIGHUP); any other signal would stop it.
	if got := u["ExecReload"]; len(got) != 1 || got[0] != "/bin/kill -HUP $MAINPID" {
		t.Errorf("ExecReload = %q, want SIGHUP to $MAINPID", got)
	}

	addr := freePort(t)
	cfgPath := filepath.Join(t.TempDir(), "gatehouse.yaml")
	os.WriteFile(cfgPath, []byte("server:\n  listen: \""+addr+"\"\n  public_url: \"https://"+addr+"\"\nstore:\n  backend: memory\n"), 0o600)
	args := func(line string) []string {
		f := strings.Fields(line)
		if len(f) < 2 || f[0] != "/usr/local/bin/gatehouse" {
			t.Fatalf("command %q does not run /usr/local/bin/gatehouse", line)
		}
		for i, a := range f {
			if a == "/etc/gatehouse/gatehouse.yaml" {
				f[i] = cfgPath
			}
		}
		return f[1:]
	}
	for _, line := range u["ExecStartPre"] {
		var out, errOut syncBuffer
		if err := run(context.Background(), args(line), envFunc(nil), strings.NewReader(""), &out, &errOut); err != nil {
			t.Errorf("ExecStartPre %q: %v\n%s", line, err, errOut.String())
		}
	}
	ctx, cancel := context.WithCancel(context.Background())
	r := &running{stdout: &syncBuffer{}, stderr: &syncBuffer{}, cancel: cancel, done: make(chan error, 1)}
	go func() {
		r.done <- run(ctx, args(u["ExecStart"][0]), envFunc(nil), strings.NewReader(""), r.stdout, r.stderr)
	}()
	t.Cleanup(func() {
		cancel()
		select {
		case <-r.done:
		case <-time.After(30 * time.Second):
		}
	})
	r.waitFor(t, "Gatehouse is listening")
	if err := r.stop(t); err != nil {
		t.Fatalf("ExecStart: %v", err)
	}
}
