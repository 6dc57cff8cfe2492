package identity

import (
	"context"
	"crypto/rand"
	"crypto/subtle"
	"encoding/base64"
	"errors"
	"fmt"
	"runtime"
	"strconv"
	"strings"

	"golang.org/x/crypto/argon2"
)

// Params are argon2id cost parameters.
type Params struct {
	// MemoryKiB is the memory cost per hash, in KiB.
	MemoryKiB uint32
	// Iterations is the time cost (passes over memory).
	Iterations uint32
	// Parallelism is the number of lanes.
	Parallelism uint8
}

// DefaultParams returns the OWASP-recommended argon2id parameters:
// 46 MiB of memory, one iteration, one lane.
func DefaultParams() Params {
	return Params{MemoryKiB: 46 * 1024, Iterations: 1, Parallelism: 1}
}

// Bounds on parameters, accepted both for new hashes and in stored ones,
// so that a hostile or corrupted hash cannot exhaust memory or CPU.
const (
	maxMemoryKiB   = 1 << 20 // 1 GiB
	maxIterations  = 64
	maxParallelism = 64
	minKeyLen      = 16
	maxKeyLen      = 64
	minSaltLen     = 8
	maxSaltLen     = 64

	saltLen = 16 // salt length of new hashes
	keyLen  = 32 // key length of new hashes

	argon2Version = argon2.Version // 0x13 = 19
)

// Validate reports whether p is within the bounds Gatehouse accepts:
// 1..64 iterations, 1..64 lanes, and between 8 KiB per lane and 1 GiB of
// memory.
func (p Params) Validate() error {
	switch {
	case p.Iterations < 1 || p.Iterations > maxIterations:
		return fmt.Errorf("iterations %d out of range 1..%d", p.Iterations, maxIterations)
	case p.Parallelism < 1 || p.Parallelism > maxParallelism:
		return fmt.Errorf("parallelism %d out of range 1..%d", p.Parallelism, maxParallelism)
	case p.MemoryKiB > maxMemoryKiB:
		return fmt.Errorf("memory %d KiB exceeds the limit of %d KiB", p.MemoryKiB, maxMemoryKiB)
	case p.MemoryKiB < 8*uint32(p.Parallelism):
		return fmt.Errorf("memory %d KiB is below 8 KiB per lane", p.MemoryKiB)
	}
	return nil
}

// ErrBusy is returned, wrapped, when a hash is asked for while every
// hashing slot is taken and the waiting room is full: the caller should
// answer "try again later" (503) rather than queue without bound.
var ErrBusy = errors.New("identity: too many password checks waiting")

// WaitingPerSlot is how many callers may wait for each hashing slot before
// further ones get [ErrBusy]: with max_concurrent 4, 256 sign-ins wait and
// the 257th is refused at once. A waiting caller costs a parked goroutine
// and its request (tens of KiB), not hashing memory.
const WaitingPerSlot = 64

// collectAboveKiB is the memory cost from which the hashing memory is
// handed back to the Go heap as soon as a hash is done (see compute).
const collectAboveKiB = 4 * 1024

// Hasher hashes and verifies passwords with argon2id, computing at most a
// fixed number of hashes at once, with a bounded number of callers waiting
// for a slot. It is safe for concurrent use.
//
// Memory: argon2 allocates its whole memory cost for each hash, and
// x/crypto/argon2 cannot reuse a buffer. Left to the garbage collector's
// pacing, finished hashes' buffers would pile up until the heap doubles
// (with 4 slots of 46 MiB, about 400 MiB before a collection). So after a
// hash of at least 4 MiB, the Hasher runs a collection before it frees the
// slot: the Go heap then holds at most maxConcurrent hashing buffers, and
// the next hash reuses the memory of the last one.
type Hasher struct {
	params  Params
	sem     chan struct{}
	waiting chan struct{}

	// Test hooks, nil in production: called around every argon2
	// computation, while its concurrency slot is held.
	beforeCompute func()
	afterCompute  func()
}

// NewHasher returns a Hasher that makes new hashes with p and computes at
// most maxConcurrent hashes at once; up to [WaitingPerSlot] × maxConcurrent
// further callers wait for a slot until their context is done, and beyond
// that callers get [ErrBusy] at once. A maxConcurrent below 1 is treated as
// 1. Invalid params are reported by [Hasher.Hash]; see [Params.Validate].
func NewHasher(p Params, maxConcurrent int) *Hasher {
	if maxConcurrent < 1 {
		maxConcurrent = 1
	}
	return &Hasher{
		params:  p,
		sem:     make(chan struct{}, maxConcurrent),
		waiting: make(chan struct{}, WaitingPerSlot*maxConcurrent),
	}
}

// Params returns the parameters new hashes are made with.
func (h *Hasher) Params() Params { return h.params }

// Hash returns the argon2id PHC string of password with a fresh 16-byte
// salt and a 32-byte key:
//
//	$argon2id$v=19$m=47104,t=1,p=1$<salt>$<key>
//
// where salt and key are unpadded standard base64.
func (h *Hasher) Hash(ctx context.Context, password string) (string, error) {
	if err := h.params.Validate(); err != nil {
		return "", fmt.Errorf("hash password: invalid parameters: %w", err)
	}
	salt := make([]byte, saltLen)
	if _, err := rand.Read(salt); err != nil {
		return "", fmt.Errorf("hash password: read salt: %w", err)
	}
	key, err := h.compute(ctx, h.params, []byte(password), salt, keyLen)
	if err != nil {
		return "", fmt.Errorf("hash password: %w", err)
	}
	return encodeHash(phc{params: h.params, salt: salt, key: key}), nil
}

// Verify reports whether password matches the PHC string encoded. The
// hash is recomputed with the parameters recorded in encoded, not the
// Hasher's, so hashes made before a parameter change keep working. A
// wrong password is (false, nil); a malformed or out-of-bounds hash is an
// error wrapping [ErrMalformedHash]; a context done while waiting for a
// slot is an error wrapping the context's error.
func (h *Hasher) Verify(ctx context.Context, encoded, password string) (bool, error) {
	ph, err := parseHash(encoded)
	if err != nil {
		return false, fmt.Errorf("verify password: %w", err)
	}
	key, err := h.compute(ctx, ph.params, []byte(password), ph.salt, uint32(len(ph.key)))
	if err != nil {
		return false, fmt.Errorf("verify password: %w", err)
	}
	return subtle.ConstantTimeCompare(key, ph.key) == 1, nil
}

// NeedsRehash reports whether encoded was made with parameters, salt or
// key length other than the ones [Hasher.Hash] uses now, or is malformed.
// Callers that hold the plain password after a successful verification can
// then store a fresh hash.
func (h *Hasher) NeedsRehash(encoded string) bool {
	ph, err := parseHash(encoded)
	if err != nil {
		return true
	}
	return ph.params != h.params || len(ph.salt) != saltLen || len(ph.key) != keyLen
}

// compute runs argon2id once a concurrency slot is free.
func (h *Hasher) compute(ctx context.Context, p Params, password, salt []byte, keyLen uint32) ([]byte, error) {
	if err := h.acquire(ctx); err != nil {
		return nil, err
	}
	defer func() { <-h.sem }()
	if h.beforeCompute != nil {
		h.beforeCompute()
	}
	if h.afterCompute != nil {
		defer h.afterCompute()
	}
	key := argon2.IDKey(password, salt, p.Iterations, p.MemoryKiB, p.Parallelism, keyLen)
	if p.MemoryKiB >= collectAboveKiB {
		// The buffer argon2 allocated is garbage now; collect it before
		// the slot is freed, so the next hash reuses its memory instead
		// of the heap growing by one buffer per hash until the pacer
		// collects. The buffers hold no pointers, so the collection
		// costs what marking the rest of the heap costs.
		runtime.GC()
	}
	return key, nil
}

// acquire takes a hashing slot, waiting for one (in the bounded waiting
// room) until ctx is done.
func (h *Hasher) acquire(ctx context.Context) error {
	if err := ctx.Err(); err != nil {
		return fmt.Errorf("waiting for a hashing slot: %w", err)
	}
	select {
	case h.sem <- struct{}{}:
		return nil
	default:
	}
	select {
	case h.waiting <- struct{}{}:
	default:
		return fmt.Errorf("waiting for a hashing slot: %w (%d waiting for %d slots)", ErrBusy, cap(h.waiting), cap(h.sem))
	}
	defer func() { <-h.waiting }()
	select {
	case h.sem <- struct{}{}:
		return nil
	case <-ctx.Done():
		return fmt.Errorf("waiting for a hashing slot: %w", ctx.Err())
	}
}

// ParseHash returns the parameters of an argon2id PHC string, checking its
// whole syntax and the bounds of [Params.Validate], salt length (8..64
// bytes) and key length (16..64 bytes). Errors wrap [ErrMalformedHash] and
// never contain the salt or key.
func ParseHash(encoded string) (Params, error) {
	ph, err := parseHash(encoded)
	if err != nil {
		return Params{}, err
	}
	return ph.params, nil
}

// phc is a decoded argon2id PHC string.
type phc struct {
	params Params
	salt   []byte
	key    []byte
}

// b64 is the PHC base64 flavour: standard alphabet, no padding; Strict
// rejects non-zero trailing bits so every hash has one encoding.
func b64() *base64.Encoding { return base64.RawStdEncoding.Strict() }

func encodeHash(ph phc) string {
	return fmt.Sprintf("$argon2id$v=%d$m=%d,t=%d,p=%d$%s$%s",
		argon2Version, ph.params.MemoryKiB, ph.params.Iterations, ph.params.Parallelism,
		b64().EncodeToString(ph.salt), b64().EncodeToString(ph.key))
}

func malformed(format string, args ...any) error {
	return fmt.Errorf("%w: %s", ErrMalformedHash, fmt.Sprintf(format, args...))
}

func parseHash(encoded string) (phc, error) {
	if encoded == "" {
		return phc{}, malformed("empty")
	}
	if len(encoded) > 512 {
		return phc{}, malformed("longer than 512 bytes")
	}
	if encoded[0] != '$' {
		return phc{}, malformed("does not start with \"$\"")
	}
	fields := strings.Split(encoded[1:], "$")
	if fields[0] != "argon2id" {
		// The identifier is not secret and helps spot argon2i or bcrypt
		// hashes; quote only short, printable ones.
		if len(fields[0]) <= 16 && printable(fields[0]) {
			return phc{}, malformed("algorithm %q is not argon2id", fields[0])
		}
		return phc{}, malformed("algorithm is not argon2id")
	}
	if len(fields) != 5 {
		return phc{}, malformed("want 5 \"$\"-separated fields (argon2id, version, parameters, salt, key), got %d", len(fields))
	}
	ver, ok := strings.CutPrefix(fields[1], "v=")
	if !ok {
		return phc{}, malformed("missing version field \"v=\"")
	}
	v, err := parseDecimal(ver)
	if err != nil {
		return phc{}, malformed("version: %v", err)
	}
	if v != argon2Version {
		return phc{}, malformed("unsupported version %d, want %d", v, argon2Version)
	}

	kv := strings.Split(fields[2], ",")
	if len(kv) != 3 {
		return phc{}, malformed("want parameters m, t, p, got %d parameters", len(kv))
	}
	var vals [3]uint64
	for i, name := range []string{"m", "t", "p"} {
		s, ok := strings.CutPrefix(kv[i], name+"=")
		if !ok {
			return phc{}, malformed("parameter %d is not %q", i+1, name)
		}
		n, err := parseDecimal(s)
		if err != nil {
			return phc{}, malformed("parameter %s: %v", name, err)
		}
		vals[i] = n
	}
	// Check bounds before narrowing so huge values are reported, not wrapped.
	switch {
	case vals[0] > maxMemoryKiB:
		return phc{}, malformed("memory %d KiB exceeds the limit of %d KiB", vals[0], maxMemoryKiB)
	case vals[1] > maxIterations:
		return phc{}, malformed("iterations %d exceed the limit of %d", vals[1], maxIterations)
	case vals[2] > maxParallelism:
		return phc{}, malformed("parallelism %d exceeds the limit of %d", vals[2], maxParallelism)
	}
	p := Params{MemoryKiB: uint32(vals[0]), Iterations: uint32(vals[1]), Parallelism: uint8(vals[2])}
	if err := p.Validate(); err != nil {
		return phc{}, malformed("%v", err)
	}

	salt, err := decodeB64(fields[3])
	if err != nil {
		return phc{}, malformed("salt: %v", err)
	}
	if len(salt) < minSaltLen || len(salt) > maxSaltLen {
		return phc{}, malformed("salt length %d out of range %d..%d bytes", len(salt), minSaltLen, maxSaltLen)
	}
	key, err := decodeB64(fields[4])
	if err != nil {
		return phc{}, malformed("key: %v", err)
	}
	if len(key) < minKeyLen || len(key) > maxKeyLen {
		return phc{}, malformed("key length %d out of range %d..%d bytes", len(key), minKeyLen, maxKeyLen)
	}
	return phc{params: p, salt: salt, key: key}, nil
}

// parseDecimal parses a canonical unsigned decimal: digits only, no sign,
// no leading zeros, at most 10 digits.
func parseDecimal(s string) (uint64, error) {
	switch {
	case s == "":
		return 0, fmt.Errorf("empty number")
	case len(s) > 10:
		return 0, fmt.Errorf("number too long")
	case len(s) > 1 && s[0] == '0':
		return 0, fmt.Errorf("number has leading zeros")
	}
	for i := 0; i < len(s); i++ {
		if s[i] < '0' || s[i] > '9' {
			return 0, fmt.Errorf("not a decimal number")
		}
	}
	return strconv.ParseUint(s, 10, 64)
}

// decodeB64 decodes unpadded standard base64, rejecting anything the
// decoder would silently skip (such as line breaks) and padding.
func decodeB64(s string) ([]byte, error) {
	if s == "" {
		return nil, fmt.Errorf("empty")
	}
	for i := 0; i < len(s); i++ {
		c := s[i]
		if !('A' <= c && c <= 'Z' || 'a' <= c && c <= 'z' || '0' <= c && c <= '9' || c == '+' || c == '/') {
			return nil, fmt.Errorf("not unpadded standard base64")
		}
	}
	b, err := b64().DecodeString(s)
	if err != nil {
		return nil, fmt.Errorf("not canonical unpadded standard base64")
	}
	return b, nil
}

func printable(s string) bool {
	for i := 0; i < len(s); i++ {
		if s[i] < 0x20 || s[i] > 0x7e {
			return false
		}
	}
	return true
}
