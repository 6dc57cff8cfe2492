// Package pebbletest runs Pebble, the ACME test server, on loopback for
// tests: Start writes its configuration (with a test CA for Pebble's own
// HTTPS listener) and waits until its directory answers. The binary comes
// from `go install github.com/letsencrypt/pebble/v2/cmd/pebble@v2.10.1`;
// without it tests skip, except in CI (CI=true), where they fail.
package pebbletest

import (
	"bytes"
	"crypto/ecdsa"
	"crypto/elliptic"
	"crypto/rand"
	"crypto/tls"
	"crypto/x509"
	"crypto/x509/pkix"
	"encoding/json"
	"encoding/pem"
	"io"
	"math/big"
	"net"
	"net/http"
	"os"
	"os/exec"
	"path/filepath"
	"strconv"
	"strings"
	"sync"
	"testing"
	"time"
)

// Binary finds pebble in PATH or GOPATH/bin. Without it the test is
// skipped, except in CI (CI=true), where it must be installed.
func Binary(t testing.TB) string {
	t.Helper()
	if p, err := exec.LookPath("pebble"); err == nil {
		return p
	}
	if out, err := exec.Command("go", "env", "GOPATH").Output(); err == nil {
		for _, dir := range filepath.SplitList(strings.TrimSpace(string(out))) {
			p := filepath.Join(dir, "bin", "pebble")
			if _, err := os.Stat(p); err == nil {
				return p
			}
		}
	}
	const install = "go install github.com/letsencrypt/pebble/v2/cmd/pebble@v2.10.1"
	if os.Getenv("CI") == "true" {
		t.Fatalf("pebble not found in PATH or GOPATH/bin; install it: %s", install)
	}
	t.Skipf("pebble not found in PATH or GOPATH/bin (install: %s)", install)
	return ""
}

// logBuffer is a bytes.Buffer safe for concurrent writers.
type logBuffer struct {
	mu sync.Mutex
	b  bytes.Buffer
}

func (s *logBuffer) Write(p []byte) (int, error) {
	s.mu.Lock()
	defer s.mu.Unlock()
	return s.b.Write(p)
}

func (s *logBuffer) String() string {
	s.mu.Lock()
	defer s.mu.Unlock()
	return s.b.String()
}

// FreePorts reserves n distinct loopback ports, none it returned before
// in this process, and releases them for the caller to bind (pebble
// needs its ports in a config file up front).
func FreePorts(t testing.TB, n int) []int {
	t.Helper()
	handed.Lock()
	defer handed.Unlock()
	var ports []int
	for len(ports) < n {
		ln, err := net.Listen("tcp", "127.0.0.1:0")
		if err != nil {
			t.Fatal(err)
		}
		defer ln.Close() // held until all are chosen, so none repeats
		port := ln.Addr().(*net.TCPAddr).Port
		if handed.ports[port] {
			continue
		}
		handed.ports[port] = true
		ports = append(ports, port)
	}
	return ports
}

// handed are the ports FreePorts has returned in this process: a port
// released for a test to bind is never handed out again, so pebble's own
// ports (chosen after the test's) cannot take one of the test's.
var handed = struct {
	sync.Mutex
	ports map[int]bool
}{ports: map[int]bool{}}

// testCA writes a CA certificate and a localhost certificate signed by it
// (for pebble's own HTTPS listeners) into dir.
func testCA(t testing.TB, dir string) (caFile, certFile, keyFile string) {
	t.Helper()
	caKey, err := ecdsa.GenerateKey(elliptic.P256(), rand.Reader)
	if err != nil {
		t.Fatal(err)
	}
	now := time.Now()
	caTmpl := &x509.Certificate{
		SerialNumber: big.NewInt(1), Subject: pkix.Name{CommonName: "gatehouse test CA for pebble"},
		NotBefore: now.Add(-time.Hour), NotAfter: now.Add(24 * time.Hour),
		IsCA: true, BasicConstraintsValid: true, KeyUsage: x509.KeyUsageCertSign,
	}
	caDER, err := x509.CreateCertificate(rand.Reader, caTmpl, caTmpl, &caKey.PublicKey, caKey)
	if err != nil {
		t.Fatal(err)
	}
	caCert, _ := x509.ParseCertificate(caDER)
	key, err := ecdsa.GenerateKey(elliptic.P256(), rand.Reader)
	if err != nil {
		t.Fatal(err)
	}
	tmpl := &x509.Certificate{
		SerialNumber: big.NewInt(2), Subject: pkix.Name{CommonName: "localhost"},
		NotBefore: now.Add(-time.Hour), NotAfter: now.Add(24 * time.Hour),
		DNSNames: []string{"localhost"}, IPAddresses: []net.IP{net.IPv4(127, 0, 0, 1), net.IPv6loopback},
		KeyUsage: x509.KeyUsageDigitalSignature, ExtKeyUsage: []x509.ExtKeyUsage{x509.ExtKeyUsageServerAuth},
	}
	der, err := x509.CreateCertificate(rand.Reader, tmpl, caCert, &key.PublicKey, caKey)
	if err != nil {
		t.Fatal(err)
	}
	keyDER, err := x509.MarshalPKCS8PrivateKey(key)
	if err != nil {
		t.Fatal(err)
	}
	write := func(name, typ string, b []byte) string {
		p := filepath.Join(dir, name)
		if err := os.WriteFile(p, pem.EncodeToMemory(&pem.Block{Type: typ, Bytes: b}), 0o600); err != nil {
			t.Fatal(err)
		}
		return p
	}
	return write("ca.pem", "CERTIFICATE", caDER), write("cert.pem", "CERTIFICATE", der), write("key.pem", "PRIVATE KEY", keyDER)
}

// Pebble is a running pebble ACME server.
type Pebble struct {
	DirURL string       // ACME directory
	CAFile string       // the root pebble's own HTTPS listeners chain to
	mgmt   string       // management API base URL
	client *http.Client // trusts CAFile
	out    *logBuffer
	stop   func()
}

// Stop kills pebble (it is also killed when the test ends).
func (p *Pebble) Stop() { p.stop() }

// Start runs pebble on loopback; it validates HTTP-01 on httpPort and
// TLS-ALPN-01 on tlsPort of the identifier's address (localhost:
// 127.0.0.1).
func Start(t testing.TB, httpPort, tlsPort int) *Pebble {
	t.Helper()
	bin := Binary(t)
	dir := t.TempDir()
	caFile, certFile, keyFile := testCA(t, dir)
	ports := FreePorts(t, 2)
	listen := net.JoinHostPort("127.0.0.1", strconv.Itoa(ports[0]))
	mgmt := net.JoinHostPort("127.0.0.1", strconv.Itoa(ports[1]))
	cfg := map[string]any{"pebble": map[string]any{
		"listenAddress":           listen,
		"managementListenAddress": mgmt,
		"certificate":             certFile,
		"privateKey":              keyFile,
		"httpPort":                httpPort,
		"tlsPort":                 tlsPort,
		"ocspResponderURL":        "",
		"keyAlgorithm":            "ecdsa",
		"retryAfter":              map[string]int{"authz": 1, "order": 1},
	}}
	cfgJSON, _ := json.Marshal(cfg)
	cfgFile := filepath.Join(dir, "pebble-config.json")
	if err := os.WriteFile(cfgFile, cfgJSON, 0o600); err != nil {
		t.Fatal(err)
	}
	out := &logBuffer{}
	cmd := exec.Command(bin, "-config", cfgFile)
	cmd.Env = append(os.Environ(),
		"PEBBLE_VA_NOSLEEP=1",      // validate at once
		"PEBBLE_WFE_NONCEREJECT=0", // no random badNonce errors
		"PEBBLE_AUTHZREUSE=0",      // every order validates for real
	)
	cmd.Stdout, cmd.Stderr = out, out
	if err := cmd.Start(); err != nil {
		t.Fatalf("start pebble: %v", err)
	}
	var once sync.Once
	stop := func() {
		once.Do(func() {
			_ = cmd.Process.Kill()
			_ = cmd.Wait()
		})
	}
	t.Cleanup(func() {
		stop()
		if t.Failed() {
			t.Logf("pebble output:\n%s", out.String())
		}
	})

	caPEM, err := os.ReadFile(caFile)
	if err != nil {
		t.Fatal(err)
	}
	pool := x509.NewCertPool()
	pool.AppendCertsFromPEM(caPEM)
	client := &http.Client{Timeout: 10 * time.Second, Transport: &http.Transport{TLSClientConfig: &tls.Config{RootCAs: pool}}}
	p := &Pebble{DirURL: "https://" + listen + "/dir", mgmt: "https://" + mgmt, CAFile: caFile, client: client, out: out, stop: stop}
	deadline := time.Now().Add(30 * time.Second)
	for wait := 10 * time.Millisecond; ; wait = min(2*wait, 500*time.Millisecond) {
		resp, err := client.Get(p.DirURL)
		if err == nil {
			resp.Body.Close()
			if resp.StatusCode == http.StatusOK {
				return p
			}
		}
		if time.Now().After(deadline) {
			t.Fatalf("pebble not ready at %s: %v", p.DirURL, err)
		}
		time.Sleep(wait)
	}
}

// Cert fetches a PEM certificate from pebble's management API.
func (p *Pebble) Cert(t testing.TB, path string) *x509.Certificate {
	t.Helper()
	resp, err := p.client.Get(p.mgmt + path)
	if err != nil {
		t.Fatalf("GET %s: %v", path, err)
	}
	defer resp.Body.Close()
	b, _ := io.ReadAll(resp.Body)
	block, _ := pem.Decode(b)
	if block == nil {
		t.Fatalf("GET %s: no PEM in %q", path, b)
	}
	c, err := x509.ParseCertificate(block.Bytes)
	if err != nil {
		t.Fatalf("GET %s: %v", path, err)
	}
	return c
}
