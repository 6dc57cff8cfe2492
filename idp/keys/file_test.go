package keys

import (
	"context"
	"crypto"
	"crypto/ecdsa"
	"crypto/ed25519"
	"crypto/elliptic"
	"crypto/rand"
	"crypto/rsa"
	"crypto/x509"
	"encoding/pem"
	"os"
	"path/filepath"
	"slices"
	"strings"
	"testing"
	"time"
)

// pemKeys are the private keys the file tests write, in every encoding.
type pemKeys struct {
	rsaPKCS8, rsaPKCS1, rsa2PKCS8, rsa1024 []byte
	ecSEC1, ecPKCS8, ecWithParams, ec384   []byte
	ed25519, twoKeys                       []byte
	rsaPub, ecPub                          crypto.PublicKey
}

func makePEMKeys(t *testing.T) pemKeys {
	t.Helper()
	must := func(b []byte, err error) []byte {
		t.Helper()
		if err != nil {
			t.Fatal(err)
		}
		return b
	}
	block := func(typ string, der []byte) []byte {
		return pem.EncodeToMemory(&pem.Block{Type: typ, Bytes: der})
	}
	rsaKey := func(bits int) *rsa.PrivateKey {
		k, err := rsa.GenerateKey(rand.Reader, bits)
		if err != nil {
			t.Fatal(err)
		}
		return k
	}
	ecKey := func(c elliptic.Curve) *ecdsa.PrivateKey {
		k, err := ecdsa.GenerateKey(c, rand.Reader)
		if err != nil {
			t.Fatal(err)
		}
		return k
	}
	r1, r2, small := rsaKey(2048), rsaKey(2048), rsaKey(1024)
	e1, e384 := ecKey(elliptic.P256()), ecKey(elliptic.P384())
	_, ed, err := ed25519.GenerateKey(rand.Reader)
	if err != nil {
		t.Fatal(err)
	}
	var k pemKeys
	k.rsaPKCS8 = block("PRIVATE KEY", must(x509.MarshalPKCS8PrivateKey(r1)))
	k.rsaPKCS1 = block("RSA PRIVATE KEY", x509.MarshalPKCS1PrivateKey(r1))
	k.rsa2PKCS8 = block("PRIVATE KEY", must(x509.MarshalPKCS8PrivateKey(r2)))
	k.rsa1024 = block("RSA PRIVATE KEY", x509.MarshalPKCS1PrivateKey(small))
	k.ecSEC1 = block("EC PRIVATE KEY", must(x509.MarshalECPrivateKey(e1)))
	k.ecPKCS8 = block("PRIVATE KEY", must(x509.MarshalPKCS8PrivateKey(e1)))
	// As `openssl ecparam -genkey` writes it.
	k.ecWithParams = append(block("EC PARAMETERS", []byte{0x06, 0x08, 0x2a, 0x86, 0x48, 0xce, 0x3d, 0x03, 0x01, 0x07}), k.ecSEC1...)
	k.ec384 = block("EC PRIVATE KEY", must(x509.MarshalECPrivateKey(e384)))
	k.ed25519 = block("PRIVATE KEY", must(x509.MarshalPKCS8PrivateKey(ed)))
	k.twoKeys = append(slices.Clone(k.rsaPKCS8), k.ecSEC1...)
	k.rsaPub, k.ecPub = r1.Public(), e1.Public()
	return k
}

func TestNew_FileKeys(t *testing.T) {
	k := makePEMKeys(t)
	cert := pem.EncodeToMemory(&pem.Block{Type: "CERTIFICATE", Bytes: []byte("not parsed")})

	cases := []struct {
		name  string
		algs  []string
		files map[string][]byte
	}{
		{"PKCS#8 RSA and SEC1 EC", nil, map[string][]byte{"rsa.pem": k.rsaPKCS8, "ec.pem": k.ecSEC1}},
		{"PKCS#1 RSA and PKCS#8 EC", nil, map[string][]byte{"rsa.pem": k.rsaPKCS1, "ec.pem": k.ecPKCS8}},
		{"EC after EC PARAMETERS, RSA after a certificate", nil, map[string][]byte{"rsa.pem": append(slices.Clone(cert), k.rsaPKCS1...), "ec.pem": k.ecWithParams}},
		{"RS256 only", []string{RS256}, map[string][]byte{"rsa.pem": k.rsaPKCS8}},
		{"ES256 only", []string{ES256}, map[string][]byte{"ec.pem": k.ecSEC1}},
	}
	for _, c := range cases {
		t.Run(c.name, func(t *testing.T) {
			clk := newClock(t0)
			m, err := New(context.Background(), nil, Options{Algorithms: c.algs, Files: writeFiles(t, c.files), Now: clk.Now})
			if err != nil {
				t.Fatalf("New: %v", err)
			}
			algs := c.algs
			if algs == nil {
				algs = []string{RS256, ES256}
			}
			if got := m.Algorithms(); !slices.Equal(got, algs) {
				t.Errorf("Algorithms = %v, want %v", got, algs)
			}
			set := jwks(t, m)
			if len(set.Keys) != len(algs) {
				t.Fatalf("JWKS has %d keys, want %d", len(set.Keys), len(algs))
			}
			for _, alg := range algs {
				pub := map[string]crypto.PublicKey{RS256: k.rsaPub, ES256: k.ecPub}[alg]
				wantKid, err := thumbprint(pub)
				if err != nil {
					t.Fatal(err)
				}
				tok := mustSign(t, m, alg, map[string]string{"sub": "u"})
				if got := kidOf(t, tok); got != wantKid {
					t.Errorf("%s: kid %s, want the thumbprint %s", alg, got, wantKid)
				}
				if _, h, err := m.Verify(tok); err != nil || h.Alg != alg {
					t.Errorf("%s: Verify = %+v, %v", alg, h, err)
				}
				// No rotation, no expiry.
				clk.Set(t0.Add(10 * 365 * 24 * time.Hour))
				if err := m.Refresh(context.Background()); err != nil {
					t.Errorf("Refresh: %v", err)
				}
				if got := kidOf(t, mustSign(t, m, alg, "x")); got != wantKid {
					t.Errorf("%s: key changed to %s ten years on", alg, got)
				}
				if _, _, err := m.Verify(tok); err != nil {
					t.Errorf("%s: Verify ten years on: %v", alg, err)
				}
				clk.Set(t0)
			}
			// Run has nothing to do and returns when ctx ends.
			ctx, cancel := context.WithCancel(context.Background())
			cancel()
			m.Run(ctx)
		})
	}
}

func TestNew_FileKeysRefused(t *testing.T) {
	k := makePEMKeys(t)
	encrypted := pem.EncodeToMemory(&pem.Block{Type: "ENCRYPTED PRIVATE KEY", Bytes: []byte("x")})
	legacy := pem.EncodeToMemory(&pem.Block{Type: "RSA PRIVATE KEY", Headers: map[string]string{"Proc-Type": "4,ENCRYPTED", "DEK-Info": "AES-128-CBC,00"}, Bytes: []byte("x")})
	corrupt := pem.EncodeToMemory(&pem.Block{Type: "PRIVATE KEY", Bytes: []byte("not DER")})

	cases := []struct {
		name  string
		algs  []string
		files map[string][]byte
		// missing names a file that is not written.
		missing string
		// want are substrings of the error.
		want []string
	}{
		{name: "RSA 1024", algs: []string{RS256}, files: map[string][]byte{"small.pem": k.rsa1024}, want: []string{"small.pem", "1024 bits"}},
		{name: "P-384", algs: []string{ES256}, files: map[string][]byte{"p384.pem": k.ec384}, want: []string{"p384.pem", "P-384", "P-256"}},
		{name: "Ed25519", algs: []string{RS256}, files: map[string][]byte{"ed.pem": k.ed25519}, want: []string{"ed.pem", "unsupported key type"}},
		{name: "garbage", algs: []string{RS256}, files: map[string][]byte{"junk.pem": []byte("hello, world\n")}, want: []string{"junk.pem", "no PEM private key"}},
		{name: "empty", algs: []string{RS256}, files: map[string][]byte{"empty.pem": nil}, want: []string{"empty.pem", "no PEM private key"}},
		{name: "corrupt DER", algs: []string{RS256}, files: map[string][]byte{"bad.pem": corrupt}, want: []string{"bad.pem", "PRIVATE KEY"}},
		{name: "missing file", algs: []string{RS256}, missing: "absent.pem", want: []string{"absent.pem", "no such file"}},
		{name: "encrypted PKCS#8", algs: []string{RS256}, files: map[string][]byte{"enc.pem": encrypted}, want: []string{"enc.pem", "encrypted"}},
		{name: "encrypted PKCS#1", algs: []string{RS256}, files: map[string][]byte{"enc.pem": legacy}, want: []string{"enc.pem", "encrypted"}},
		{name: "two keys in one file", files: map[string][]byte{"both.pem": k.twoKeys}, want: []string{"both.pem", "more than one"}},
		{name: "two RSA keys", algs: []string{RS256}, files: map[string][]byte{"a.pem": k.rsaPKCS8, "b.pem": k.rsa2PKCS8}, want: []string{"a.pem", "b.pem", "RS256"}},
		{name: "same key twice", algs: []string{RS256}, files: map[string][]byte{"a.pem": k.rsaPKCS8, "b.pem": k.rsaPKCS1}, want: []string{"a.pem", "b.pem", "RS256"}},
		{name: "no key for ES256", files: map[string][]byte{"rsa.pem": k.rsaPKCS8}, want: []string{"ES256"}},
		{name: "no key for RS256", files: map[string][]byte{"ec.pem": k.ecSEC1}, want: []string{"RS256"}},
		{name: "key of an unconfigured algorithm", algs: []string{RS256}, files: map[string][]byte{"rsa.pem": k.rsaPKCS8, "ec.pem": k.ecSEC1}, want: []string{"ec.pem", "ES256"}},
	}
	for _, c := range cases {
		t.Run(c.name, func(t *testing.T) {
			paths := writeFiles(t, c.files)
			if c.missing != "" {
				paths = append(paths, filepath.Join(t.TempDir(), c.missing))
			}
			m, err := New(context.Background(), nil, Options{Algorithms: c.algs, Files: paths})
			if err == nil {
				t.Fatalf("New succeeded with algorithms %v", m.Algorithms())
			}
			for _, w := range c.want {
				if !strings.Contains(err.Error(), w) {
					t.Errorf("error %q does not mention %q", err, w)
				}
			}
			if strings.Contains(err.Error(), "BEGIN") {
				t.Errorf("error quotes key material: %v", err)
			}
		})
	}
}

// writeFiles writes files into a temporary directory, returning their
// paths in name order.
func writeFiles(t *testing.T, files map[string][]byte) []string {
	t.Helper()
	dir := t.TempDir()
	var paths []string
	for name, data := range files {
		p := filepath.Join(dir, name)
		if err := os.WriteFile(p, data, 0o600); err != nil {
			t.Fatal(err)
		}
		paths = append(paths, p)
	}
	slices.Sort(paths)
	return paths
}
