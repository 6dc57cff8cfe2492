package keys

import (
	"crypto/x509"
	"encoding/pem"
	"errors"
	"fmt"
	"os"
)

// loadFiles reads the PEM private keys named by paths, one per algorithm,
// and checks that every algorithm in algs has one.
func loadFiles(paths, algs []string) ([]*key, error) {
	wanted := make(map[string]bool, len(algs))
	for _, a := range algs {
		wanted[a] = true
	}
	byAlg := make(map[string]string, len(paths)) // alg -> file
	var out []*key
	for _, p := range paths {
		k, err := loadFile(p)
		if err != nil {
			return nil, fmt.Errorf("keys: loading %s: %w", p, err)
		}
		if !wanted[k.alg] {
			return nil, fmt.Errorf("keys: %s holds an %s key but %s is not among the configured algorithms", p, k.alg, k.alg)
		}
		if prev, dup := byAlg[k.alg]; dup {
			return nil, fmt.Errorf("keys: %s and %s both hold an %s key; give one key per algorithm", prev, p, k.alg)
		}
		byAlg[k.alg] = p
		out = append(out, k)
	}
	for _, a := range algs {
		if _, ok := byAlg[a]; !ok {
			return nil, fmt.Errorf("keys: no key file for algorithm %s (configured algorithms need one file each)", a)
		}
	}
	return out, nil
}

// loadFile reads one PEM file holding one private key, in PKCS#8
// ("PRIVATE KEY"), PKCS#1 ("RSA PRIVATE KEY") or SEC1 ("EC PRIVATE KEY")
// form. Other blocks (certificates, "EC PARAMETERS") are skipped.
func loadFile(path string) (*key, error) {
	data, err := os.ReadFile(path)
	if err != nil {
		return nil, err
	}
	var found *key
	for rest := data; ; {
		var b *pem.Block
		b, rest = pem.Decode(rest)
		if b == nil {
			break
		}
		if _, legacy := b.Headers["Proc-Type"]; legacy {
			return nil, errors.New("encrypted private keys are not supported")
		}
		var parsed any
		switch b.Type {
		case "PRIVATE KEY":
			parsed, err = x509.ParsePKCS8PrivateKey(b.Bytes)
		case "RSA PRIVATE KEY":
			parsed, err = x509.ParsePKCS1PrivateKey(b.Bytes)
		case "EC PRIVATE KEY":
			parsed, err = x509.ParseECPrivateKey(b.Bytes)
		case "ENCRYPTED PRIVATE KEY":
			return nil, errors.New("encrypted private keys are not supported")
		default:
			continue
		}
		if err != nil {
			return nil, fmt.Errorf("parsing %s block: %w", b.Type, err)
		}
		if found != nil {
			return nil, errors.New("more than one private key; give one key per file")
		}
		alg, priv, err := algFor(parsed)
		if err != nil {
			return nil, err
		}
		if found, err = newKey(alg, priv); err != nil {
			return nil, err
		}
		found.file = true
	}
	if found == nil {
		return nil, errors.New("no PEM private key found")
	}
	return found, nil
}
