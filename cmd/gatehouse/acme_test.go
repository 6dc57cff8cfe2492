package main

import (
	"crypto/tls"
	"crypto/x509"
	"net/http"
	"os"
	"path/filepath"
	"strconv"
	"testing"
	"time"

	"github.com/gatehouse-sso/gatehouse/internal/pebbletest"
)

// TestServe_ACME runs `gatehouse serve` with server.tls.mode acme against
// Pebble on loopback, once per challenge type: the certificate is obtained
// for real and the main listener serves it, chained to Pebble's root.
func TestServe_ACME(t *testing.T) {
	for _, challenge := range []string{"http-01", "tls-alpn-01"} {
		t.Run(challenge, func(t *testing.T) {
			ports := pebbletest.FreePorts(t, 2)
			mainPort, httpPort := strconv.Itoa(ports[0]), strconv.Itoa(ports[1])
			p := pebbletest.Start(t, ports[1], ports[0])
			dir := t.TempDir()
			cfgFile := filepath.Join(dir, "gatehouse.yaml")
			if err := os.WriteFile(cfgFile, []byte("log:\n  level: warn\n"), 0o600); err != nil {
				t.Fatal(err)
			}
			srv := startServe(t, map[string]string{
				"GATEHOUSE_SERVER_LISTEN":                     "127.0.0.1:" + mainPort,
				"GATEHOUSE_SERVER_HTTP_LISTEN":                "127.0.0.1:" + httpPort,
				"GATEHOUSE_SERVER_PUBLIC_URL":                 "https://localhost:" + mainPort,
				"GATEHOUSE_SERVER_TLS_MODE":                   "acme",
				"GATEHOUSE_SERVER_TLS_ACME_DIRECTORY_URL":     p.DirURL,
				"GATEHOUSE_SERVER_TLS_ACME_CA_ROOT_FILE":      p.CAFile,
				"GATEHOUSE_SERVER_TLS_ACME_CHALLENGES":        challenge,
				"GATEHOUSE_SERVER_TLS_ACME_ALT_HTTP_PORT":     httpPort,
				"GATEHOUSE_SERVER_TLS_ACME_ALT_TLS_ALPN_PORT": mainPort,
				"GATEHOUSE_STORE_BOLT_PATH":                   filepath.Join(dir, "gatehouse.db"),
			}, "--config", cfgFile)
			srv.waitFor(t, "Gatehouse is listening")

			roots := x509.NewCertPool()
			roots.AddCert(p.Cert(t, "/roots/0"))
			client := &http.Client{Timeout: 5 * time.Second, Transport: &http.Transport{
				TLSClientConfig: &tls.Config{RootCAs: roots, ServerName: "localhost"}}}
			deadline := time.Now().Add(60 * time.Second)
			for {
				res, err := client.Get("https://localhost:" + mainPort + "/healthz")
				if err == nil {
					res.Body.Close()
					if res.StatusCode != http.StatusOK {
						t.Fatalf("healthz: %d", res.StatusCode)
					}
					if len(res.TLS.PeerCertificates) == 0 || res.TLS.PeerCertificates[0].DNSNames[0] != "localhost" {
						t.Fatalf("unexpected certificate %+v", res.TLS.PeerCertificates)
					}
					break
				}
				if time.Now().After(deadline) {
					t.Fatalf("no certificate from Pebble served within 60s: %v\nstderr:\n%s", err, srv.stderr)
				}
				time.Sleep(200 * time.Millisecond)
			}

			// The HTTP listener still redirects everything else to https.
			noRedirect := &http.Client{Timeout: 5 * time.Second,
				CheckRedirect: func(*http.Request, []*http.Request) error { return http.ErrUseLastResponse }}
			res, err := noRedirect.Get("http://127.0.0.1:" + httpPort + "/login")
			if err != nil {
				t.Fatal(err)
			}
			res.Body.Close()
			if res.StatusCode != http.StatusPermanentRedirect || res.Header.Get("Location") != "https://localhost:"+mainPort+"/login" {
				t.Fatalf("http listener: %d %q", res.StatusCode, res.Header.Get("Location"))
			}
		})
	}
}
