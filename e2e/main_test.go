// Package e2e runs Gatehouse as a real process behind real reverse
// proxies (Debian's nginx and Caddy), configured with the files in
// examples/, and drives them like a browser and an API client would.
//
// The tests need the gatehouse binary (built once here, from this
// module), nginx and caddy on PATH. A missing proxy skips its test on a
// developer machine and fails it in CI (CI=true):
//
//	apt-get install -y nginx caddy
//
// Only test files live here: the package ships no code.
package e2e

import (
	"bytes"
	"flag"
	"fmt"
	"os"
	"os/exec"
	"path/filepath"
	"strings"
	"testing"
)

// build is what TestMain prepared for every test: the module's root and
// the gatehouse binary built from it. It is written once, before any test
// runs, and only read afterwards.
var build struct {
	root      string
	gatehouse string
}

func TestMain(m *testing.M) {
	flag.Parse()
	os.Exit(runMain(m))
}

func runMain(m *testing.M) int {
	if testing.Short() {
		fmt.Println("e2e: skipped in -short mode")
		return 0
	}
	root, err := moduleRoot()
	if err != nil {
		fmt.Fprintln(os.Stderr, "e2e:", err)
		return 1
	}
	dir, err := os.MkdirTemp("", "gatehouse-e2e-bin-")
	if err != nil {
		fmt.Fprintln(os.Stderr, "e2e:", err)
		return 1
	}
	defer os.RemoveAll(dir)
	bin := filepath.Join(dir, "gatehouse")
	cmd := exec.Command("go", "build", "-o", bin, "./cmd/gatehouse")
	cmd.Dir = root
	if out, err := cmd.CombinedOutput(); err != nil {
		fmt.Fprintf(os.Stderr, "e2e: go build ./cmd/gatehouse: %v\n%s", err, out)
		return 1
	}
	build.root, build.gatehouse = root, bin
	return m.Run()
}

// moduleRoot is the directory of the go.mod this package belongs to.
func moduleRoot() (string, error) {
	out, err := exec.Command("go", "env", "GOMOD").Output()
	if err != nil {
		return "", fmt.Errorf("find the module root (go env GOMOD): %w", err)
	}
	gomod := string(bytes.TrimSpace(out))
	if gomod == "" || gomod == os.DevNull {
		return "", fmt.Errorf("find the module root: not inside a module")
	}
	return filepath.Dir(gomod), nil
}

// example returns the content of a file under examples/.
func example(t *testing.T, name string) string {
	t.Helper()
	b, err := os.ReadFile(filepath.Join(build.root, "examples", name))
	if err != nil {
		t.Fatalf("read example: %v", err)
	}
	return string(b)
}

// need returns the path of a program the test needs, skipping the test
// when it is missing, except in CI, where it fails.
func need(t *testing.T, program, install string) string {
	t.Helper()
	p, err := exec.LookPath(program)
	if err == nil {
		return p
	}
	msg := fmt.Sprintf("%s is not installed (%s)", program, install)
	if ci := os.Getenv("CI"); ci != "" && ci != "false" && ci != "0" {
		t.Fatal(msg + "; CI must install it")
	}
	t.Skip(msg)
	return ""
}

// rewrite applies the substitutions, old → new, to an example's text;
// each old must occur, so an edit to the example that breaks a
// substitution fails the test instead of testing something else.
func rewrite(t *testing.T, text string, pairs ...string) string {
	t.Helper()
	for i := 0; i+1 < len(pairs); i += 2 {
		if !strings.Contains(text, pairs[i]) {
			t.Fatalf("example no longer contains %q: update the test's substitutions", pairs[i])
		}
		text = strings.ReplaceAll(text, pairs[i], pairs[i+1])
	}
	return text
}
