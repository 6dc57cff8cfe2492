package server

import (
	"bytes"
	"context"
	"crypto/tls"
	"crypto/x509"
	"encoding/json"
	"errors"
	"fmt"
	"io"
	"log/slog"
	"net"
	"net/http"
	"net/http/httptest"
	"net/url"
	"os"
	"path/filepath"
	"strconv"
	"strings"
	"sync"
	"sync/atomic"
	"testing"
	"time"

	"go.uber.org/zap"

	"github.com/gatehouse-sso/gatehouse/certstore"
	"github.com/gatehouse-sso/gatehouse/internal/pebbletest"
	"github.com/gatehouse-sso/gatehouse/store"
	"github.com/gatehouse-sso/gatehouse/store/bolt"
	"github.com/gatehouse-sso/gatehouse/store/memory"
)

func acmeStorage(t *testing.T) *certstore.Storage {
	st := memory.New()
	t.Cleanup(func() { _ = st.Close() })
	return certstore.New(st, certstore.Options{})
}

func TestACME_RejectsBadOptions(t *testing.T) {
	storage := acmeStorage(t)
	badRoot := filepath.Join(t.TempDir(), "root.pem")
	if err := os.WriteFile(badRoot, []byte("not pem"), 0o600); err != nil {
		t.Fatal(err)
	}
	cases := []struct {
		name string
		o    ACMEOptions
		want string
	}{
		{"no storage", ACMEOptions{Hosts: []string{"a.example"}}, "no storage"},
		{"wildcard host", ACMEOptions{Storage: storage, Hosts: []string{"*.example.com"}}, "DNS-01"},
		{"empty host", ACMEOptions{Storage: storage, Hosts: []string{" "}}, "empty host"},
		{"odd host", ACMEOptions{Storage: storage, Hosts: []string{"a b.example"}}, "not a valid certificate name"},
		{"unknown challenge", ACMEOptions{Storage: storage, Challenges: []string{"dns-01"}}, "unknown challenge"},
		{"on-demand without Allow", ACMEOptions{Storage: storage, OnDemand: true}, "Allow"},
		{"missing root file", ACMEOptions{Storage: storage, CARootFile: filepath.Join(t.TempDir(), "none.pem")}, "read CA root file"},
		{"root file without PEM", ACMEOptions{Storage: storage, CARootFile: badRoot}, "no PEM certificate"},
	}
	for _, c := range cases {
		t.Run(c.name, func(t *testing.T) {
			_, err := ACME(t.Context(), c.o)
			if err == nil || !strings.Contains(err.Error(), c.want) {
				t.Errorf("ACME() error = %v, want it to mention %q", err, c.want)
			}
		})
	}
}

func TestAllowHosts(t *testing.T) {
	allow := AllowHosts("app.example.com", "*.apps.example.com", "Upper.Example.com")
	cases := []struct {
		name string
		want bool
	}{
		{"app.example.com", true},
		{"APP.example.com", true},
		{"upper.example.com", true},
		{"x.apps.example.com", true},
		{"apps.example.com", false},     // the wildcard needs a label
		{"a.b.apps.example.com", false}, // exactly one label
		{".apps.example.com", false},
		{"*.apps.example.com", false}, // no wildcard certificates on demand
		{"evil.example.com", false},
		{"app.example.com.evil.net", false},
		{"", false},
	}
	for _, c := range cases {
		if got := allow(t.Context(), c.name); got != c.want {
			t.Errorf("allow(%q) = %v, want %v", c.name, got, c.want)
		}
	}
}

// FuzzAllowHosts: whatever SNI name a client sends, AllowHosts accepts it
// only when it is a listed name or one label in front of a wildcard's
// suffix.
func FuzzAllowHosts(f *testing.F) {
	for _, s := range []string{"app.example.com", "x.apps.example.com", "a.b.apps.example.com", ".apps.example.com",
		"APP.EXAMPLE.COM", "apps.example.com", "x.apps.example.com.", "", "*", "*.apps.example.com"} {
		f.Add(s)
	}
	allow := AllowHosts("app.example.com", "*.apps.example.com")
	f.Fuzz(func(t *testing.T, name string) {
		if !allow(context.Background(), name) {
			return
		}
		n := strings.ToLower(name)
		if n == "app.example.com" {
			return
		}
		label, ok := strings.CutSuffix(n, ".apps.example.com")
		if !ok || label == "" || strings.ContainsAny(label, ".*") {
			t.Errorf("allowed %q", name)
		}
	})
}

func TestACME_TLSConfigAndHTTPHandler(t *testing.T) {
	fallback := http.HandlerFunc(func(w http.ResponseWriter, r *http.Request) {
		w.WriteHeader(http.StatusTeapot)
	})
	cases := []struct {
		challenges  []string
		protos      []string
		handlesACME bool
	}{
		{nil, []string{"h2", "http/1.1", "acme-tls/1"}, true},
		{[]string{ChallengeHTTP01}, []string{"h2", "http/1.1"}, true},
		{[]string{ChallengeTLSALPN01}, []string{"h2", "http/1.1", "acme-tls/1"}, false},
	}
	for _, c := range cases {
		t.Run(fmt.Sprint(c.challenges), func(t *testing.T) {
			m, err := ACME(t.Context(), ACMEOptions{Storage: acmeStorage(t), Hosts: []string{"a.example"}, Challenges: c.challenges})
			if err != nil {
				t.Fatal(err)
			}
			cfg := m.TLSConfig()
			if fmt.Sprint(cfg.NextProtos) != fmt.Sprint(c.protos) || cfg.MinVersion != tls.VersionTLS12 || cfg.GetCertificate == nil {
				t.Errorf("TLSConfig: NextProtos %v MinVersion %x; want %v, TLS 1.2, GetCertificate", cfg.NextProtos, cfg.MinVersion, c.protos)
			}
			// Requests that are not (known) challenges reach the fallback.
			for _, path := range []string{"/", "/.well-known/acme-challenge/unknown-token"} {
				rec := httptest.NewRecorder()
				m.HTTPHandler(fallback).ServeHTTP(rec, httptest.NewRequest("GET", "http://a.example"+path, nil))
				if rec.Code != http.StatusTeapot {
					t.Errorf("GET %s: status %d, want the fallback's", path, rec.Code)
				}
			}
		})
	}
}

// TestACME_OnDemandRefusesUnlistedNames: a handshake for a name Allow does
// not accept fails without the CA being asked anything.
func TestACME_OnDemandRefusesUnlistedNames(t *testing.T) {
	var hits atomic.Int64
	ca := httptest.NewTLSServer(http.HandlerFunc(func(w http.ResponseWriter, r *http.Request) {
		hits.Add(1)
		http.Error(w, "no", http.StatusServiceUnavailable)
	}))
	defer ca.Close()
	var allowed []string
	var mu sync.Mutex
	m, err := ACME(t.Context(), ACMEOptions{
		Storage:      acmeStorage(t),
		DirectoryURL: ca.URL + "/dir",
		OnDemand:     true,
		Allow: func(ctx context.Context, name string) bool {
			mu.Lock()
			allowed = append(allowed, name)
			mu.Unlock()
			return false
		},
	})
	if err != nil {
		t.Fatal(err)
	}
	if err := m.Manage(t.Context()); err != nil {
		t.Fatalf("Manage with no hosts: %v", err)
	}
	srv, cli := net.Pipe()
	defer cli.Close()
	go func() {
		_ = tls.Server(srv, m.TLSConfig()).Handshake()
		srv.Close()
	}()
	err = tls.Client(cli, &tls.Config{ServerName: "evil.example.com", InsecureSkipVerify: true}).Handshake()
	if err == nil {
		t.Fatal("handshake for an unlisted name succeeded")
	}
	mu.Lock()
	defer mu.Unlock()
	if len(allowed) == 0 {
		t.Error("Allow was not asked")
	}
	for _, n := range allowed {
		if n != "evil.example.com" {
			t.Errorf("Allow asked about %q, want evil.example.com", n)
		}
	}
	if hits.Load() != 0 {
		t.Errorf("the CA was contacted %d times for a refused name", hits.Load())
	}
}

func TestSlogCore(t *testing.T) {
	var buf bytes.Buffer
	log := slog.New(slog.NewJSONHandler(&buf, &slog.HandlerOptions{Level: slog.LevelInfo}))
	zl := zap.New(slogCore{h: log.Handler()}).Named("certmagic").With(zap.String("ca", "pebble"))
	zl.Debug("hidden")
	zl.Info("obtained", zap.String("identifier", "a.example"), zap.Int("attempt", 2), zap.Error(errors.New("boom")))
	zl.Error("failed")
	lines := strings.Split(strings.TrimSpace(buf.String()), "\n")
	if len(lines) != 2 {
		t.Fatalf("got %d lines, want 2 (debug filtered):\n%s", len(lines), buf.String())
	}
	var rec map[string]any
	if err := json.Unmarshal([]byte(lines[0]), &rec); err != nil {
		t.Fatal(err)
	}
	want := map[string]any{"level": "INFO", "msg": "obtained", "logger": "certmagic", "ca": "pebble",
		"identifier": "a.example", "attempt": float64(2), "error": "boom"}
	for k, v := range want {
		if rec[k] != v {
			t.Errorf("%s = %v, want %v (record %s)", k, rec[k], v, lines[0])
		}
	}
	if !strings.Contains(lines[1], `"level":"ERROR"`) {
		t.Errorf("second line %s, want ERROR", lines[1])
	}
}

// acmeServe runs h on addr until the test ends and returns the bound address.
func acmeServe(t *testing.T, ctx context.Context, addr string, h http.Handler, cfg *tls.Config) string {
	t.Helper()
	ctx, cancel := context.WithCancel(ctx)
	ready := make(chan net.Addr, 1)
	done := make(chan error, 1)
	go func() {
		done <- Serve(ctx, h, Options{Addr: addr, TLS: cfg, ReadHeaderTimeout: 5 * time.Second,
			ShutdownTimeout: time.Second, Ready: func(a net.Addr) { ready <- a }}, slog.New(slog.DiscardHandler))
	}()
	select {
	case a := <-ready:
		t.Cleanup(func() {
			cancel()
			if err := <-done; err != nil {
				t.Errorf("Serve %s: %v", addr, err)
			}
		})
		return a.String()
	case err := <-done:
		cancel()
		t.Fatalf("Serve %s: %v", addr, err)
		return ""
	}
}

// checkServed does a real HTTPS request to addr for name, verifying the
// chain against pebble's root and that the leaf was signed by pebble's
// intermediate, over HTTP/2. It returns the leaf.
func checkServed(t *testing.T, addr, name string, root, intermediate *x509.Certificate) *x509.Certificate {
	t.Helper()
	roots := x509.NewCertPool()
	roots.AddCert(root)
	tr := &http.Transport{
		TLSClientConfig:   &tls.Config{RootCAs: roots, ServerName: name},
		ForceAttemptHTTP2: true,
	}
	defer tr.CloseIdleConnections()
	client := &http.Client{Transport: tr, Timeout: 90 * time.Second}
	resp, err := client.Get("https://" + addr + "/")
	if err != nil {
		t.Fatalf("GET https://%s/ as %s: %v", addr, name, err)
	}
	defer resp.Body.Close()
	body, _ := io.ReadAll(resp.Body)
	if resp.StatusCode != http.StatusOK || string(body) != "app" || resp.ProtoMajor != 2 {
		t.Errorf("GET: %s %s %q, want 200 over HTTP/2 from the app", resp.Proto, resp.Status, body)
	}
	leaf := resp.TLS.PeerCertificates[0]
	if err := leaf.CheckSignatureFrom(intermediate); err != nil {
		t.Errorf("leaf (issuer %q) not signed by pebble's intermediate %q: %v", leaf.Issuer, intermediate.Subject, err)
	}
	if err := leaf.VerifyHostname(name); err != nil {
		t.Error(err)
	}
	return leaf
}

func TestACME_Pebble(t *testing.T) {
	app := http.HandlerFunc(func(w http.ResponseWriter, r *http.Request) { _, _ = io.WriteString(w, "app") })
	cases := []struct {
		name      string
		challenge string
		onDemand  bool
		open      func(t *testing.T) store.Store
	}{
		{"http-01 on memory", ChallengeHTTP01, false, func(t *testing.T) store.Store { return memory.New() }},
		{"tls-alpn-01 on bolt", ChallengeTLSALPN01, false, func(t *testing.T) store.Store {
			s, err := bolt.Open(filepath.Join(t.TempDir(), "gatehouse.db"), bolt.Options{})
			if err != nil {
				t.Fatal(err)
			}
			return s
		}},
		{"on-demand tls-alpn-01", ChallengeTLSALPN01, true, func(t *testing.T) store.Store { return memory.New() }},
	}
	for _, c := range cases {
		t.Run(c.name, func(t *testing.T) {
			const host = "localhost" // resolves to 127.0.0.1 for pebble's validator
			ctx, cancel := context.WithCancel(t.Context())
			st := c.open(t)
			t.Cleanup(func() { _ = st.Close() })
			t.Cleanup(cancel) // runs first: servers and managers stop before the store closes

			ports := pebbletest.FreePorts(t, 2)
			httpPort, tlsPort := ports[0], ports[1]
			p := pebbletest.Start(t, httpPort, tlsPort)
			logs := &acmeLogBuffer{}
			t.Cleanup(func() {
				if t.Failed() {
					t.Logf("gatehouse log:\n%s", logs.String())
				}
			})
			o := ACMEOptions{
				Email:          "ops@example.org",
				DirectoryURL:   p.DirURL,
				CARootFile:     p.CAFile,
				Challenges:     []string{c.challenge},
				AltHTTPPort:    httpPort,
				AltTLSALPNPort: tlsPort,
				Storage:        certstore.New(st, certstore.Options{}),
				Logger:         slog.New(slog.NewJSONHandler(logs, &slog.HandlerOptions{Level: slog.LevelDebug})),
				Wait:           90 * time.Second,
			}
			if c.onDemand {
				o.OnDemand, o.Allow = true, AllowHosts(host)
			} else {
				o.Hosts = []string{host}
			}
			m, err := ACME(ctx, o)
			if err != nil {
				t.Fatal(err)
			}
			fallback := RedirectToHTTPS(&url.URL{Scheme: "https", Host: host}, nil)
			httpAddr := acmeServe(t, ctx, net.JoinHostPort("127.0.0.1", strconv.Itoa(httpPort)), m.HTTPHandler(fallback), nil)
			tlsAddr := acmeServe(t, ctx, net.JoinHostPort("127.0.0.1", strconv.Itoa(tlsPort)), app, m.TLSConfig())
			if err := m.Manage(ctx); err != nil {
				t.Fatalf("Manage: %v", err)
			}

			root, intermediate := p.Cert(t, "/roots/0"), p.Cert(t, "/intermediates/0")
			leaf := checkServed(t, tlsAddr, host, root, intermediate) // on demand: obtained during this handshake

			// The challenge was answered by our listeners, the way asked.
			wantLog := map[string]string{
				ChallengeHTTP01:    `"msg":"served key authentication","logger":"certmagic`,
				ChallengeTLSALPN01: `"msg":"served key authentication certificate"`,
			}[c.challenge]
			if !strings.Contains(logs.String(), wantLog) || !strings.Contains(logs.String(), `"challenge":"`+c.challenge+`"`) {
				t.Errorf("no %s key authentication served in the log", c.challenge)
			}
			// The HTTP listener still redirects everything else.
			resp, err := (&http.Client{CheckRedirect: func(*http.Request, []*http.Request) error { return http.ErrUseLastResponse }}).
				Get("http://" + httpAddr + "/x?y=1")
			if err != nil {
				t.Fatal(err)
			}
			resp.Body.Close()
			if resp.StatusCode != http.StatusPermanentRedirect || resp.Header.Get("Location") != "https://localhost/x?y=1" {
				t.Errorf("plain HTTP: %s to %q, want 308 to https://localhost/x?y=1", resp.Status, resp.Header.Get("Location"))
			}

			// A refused on-demand name gets no certificate.
			if c.onDemand {
				conn, err := tls.Dial("tcp", tlsAddr, &tls.Config{ServerName: "other.localhost", InsecureSkipVerify: true})
				if err == nil {
					conn.Close()
					t.Error("handshake for a name Allow refuses succeeded")
				}
			}

			// The certificate is in the store: a second replica on the same
			// store serves it with pebble gone.
			keys, err := certstore.New(st, certstore.Options{}).List(ctx, "certificates", true)
			if err != nil {
				t.Fatalf("List certificates: %v", err)
			}
			if !strings.Contains(strings.Join(keys, " "), "/localhost/localhost.crt") {
				t.Errorf("no localhost certificate in the store: %q", keys)
			}
			p.Stop()
			o2 := o
			o2.Storage = certstore.New(st, certstore.Options{})
			o2.Hosts, o2.OnDemand, o2.Allow = []string{host}, false, nil // a replica loads it at start
			o2.Wait = 30 * time.Second
			m2, err := ACME(ctx, o2)
			if err != nil {
				t.Fatal(err)
			}
			tlsAddr2 := acmeServe(t, ctx, "127.0.0.1:0", app, m2.TLSConfig())
			if err := m2.Manage(ctx); err != nil {
				t.Fatalf("replica Manage: %v", err)
			}
			leaf2 := checkServed(t, tlsAddr2, host, root, intermediate)
			if leaf2.SerialNumber.Cmp(leaf.SerialNumber) != 0 {
				t.Errorf("replica serves serial %x, want the stored %x", leaf2.SerialNumber, leaf.SerialNumber)
			}
		})
	}
}

// acmeLogBuffer is a bytes.Buffer safe for concurrent writers.
type acmeLogBuffer struct {
	mu sync.Mutex
	b  bytes.Buffer
}

func (s *acmeLogBuffer) Write(p []byte) (int, error) {
	s.mu.Lock()
	defer s.mu.Unlock()
	return s.b.Write(p)
}

func (s *acmeLogBuffer) String() string {
	s.mu.Lock()
	defer s.mu.Unlock()
	return s.b.String()
}
