package identity

import (
	"context"
	"encoding/base64"
	"errors"
	"regexp"
	"strings"
	"sync"
	"sync/atomic"
	"testing"
	"time"
)

// testParams keep -race runs fast.
var testParams = Params{MemoryKiB: 8 * 1024, Iterations: 1, Parallelism: 1}

var phcRE = regexp.MustCompile(`^\$argon2id\$v=19\$m=(\d+),t=(\d+),p=(\d+)\$([A-Za-z0-9+/]{22})\$([A-Za-z0-9+/]{43})$`)

// countComputations installs hooks on h counting argon2 computations.
func countComputations(h *Hasher) *atomic.Int64 {
	var n atomic.Int64
	h.beforeCompute = func() { n.Add(1) }
	return &n
}

func TestHashRoundTrip(t *testing.T) {
	tests := []struct {
		name     string
		params   Params
		password string
	}{
		{"ascii", testParams, "correct horse battery staple"},
		{"empty password", testParams, ""},
		{"unicode", testParams, "pässwörd-🔑-пароль"},
		{"long", testParams, strings.Repeat("x", 4096)},
		{"two lanes three passes", Params{MemoryKiB: 1024, Iterations: 3, Parallelism: 2}, "secret"},
		{"minimum memory", Params{MemoryKiB: 8, Iterations: 1, Parallelism: 1}, "secret"},
	}
	ctx := context.Background()
	for _, tt := range tests {
		t.Run(tt.name, func(t *testing.T) {
			h := NewHasher(tt.params, 2)
			enc, err := h.Hash(ctx, tt.password)
			if err != nil {
				t.Fatalf("Hash: %v", err)
			}
			if !phcRE.MatchString(enc) {
				t.Fatalf("Hash = %q, not a PHC argon2id string with 16-byte salt and 32-byte key", enc)
			}
			p, err := ParseHash(enc)
			if err != nil {
				t.Fatalf("ParseHash: %v", err)
			}
			if p != tt.params {
				t.Errorf("ParseHash params = %+v, want %+v", p, tt.params)
			}
			ok, err := h.Verify(ctx, enc, tt.password)
			if err != nil || !ok {
				t.Errorf("Verify(right password) = %v, %v; want true, nil", ok, err)
			}
			ok, err = h.Verify(ctx, enc, tt.password+"!")
			if err != nil || ok {
				t.Errorf("Verify(wrong password) = %v, %v; want false, nil", ok, err)
			}
			if h.NeedsRehash(enc) {
				t.Error("NeedsRehash of a fresh hash = true")
			}
		})
	}
}

func TestHashDefaultParams(t *testing.T) {
	ctx := context.Background()
	h := NewHasher(DefaultParams(), 1)
	enc, err := h.Hash(ctx, "hunter2")
	if err != nil {
		t.Fatal(err)
	}
	if !strings.HasPrefix(enc, "$argon2id$v=19$m=47104,t=1,p=1$") {
		t.Errorf("Hash = %q, want default parameters m=47104,t=1,p=1", enc)
	}
	if ok, err := h.Verify(ctx, enc, "hunter2"); err != nil || !ok {
		t.Errorf("Verify = %v, %v; want true, nil", ok, err)
	}
	if ok, err := h.Verify(ctx, enc, "hunter3"); err != nil || ok {
		t.Errorf("Verify(wrong) = %v, %v; want false, nil", ok, err)
	}
}

func TestHashSaltIsRandom(t *testing.T) {
	h := NewHasher(Params{MemoryKiB: 64, Iterations: 1, Parallelism: 1}, 1)
	a, _ := h.Hash(context.Background(), "same")
	b, _ := h.Hash(context.Background(), "same")
	if a == b {
		t.Fatal("two hashes of one password are equal")
	}
}

func TestHashInvalidParams(t *testing.T) {
	for _, p := range []Params{
		{},
		{MemoryKiB: 1024, Iterations: 0, Parallelism: 1},
		{MemoryKiB: 1024, Iterations: 1, Parallelism: 0},
		{MemoryKiB: 4, Iterations: 1, Parallelism: 1},
		{MemoryKiB: 2 << 20, Iterations: 1, Parallelism: 1},
		{MemoryKiB: 1024, Iterations: 65, Parallelism: 1},
	} {
		if err := p.Validate(); err == nil {
			t.Errorf("%+v: Validate = nil, want error", p)
		}
		if _, err := NewHasher(p, 1).Hash(context.Background(), "x"); err == nil {
			t.Errorf("%+v: Hash succeeded, want error", p)
		}
	}
	if err := DefaultParams().Validate(); err != nil {
		t.Errorf("DefaultParams().Validate() = %v", err)
	}
}

func TestVerifyUsesParamsFromHash(t *testing.T) {
	ctx := context.Background()
	old := NewHasher(Params{MemoryKiB: 1024, Iterations: 2, Parallelism: 2}, 1)
	enc, err := old.Hash(ctx, "pw")
	if err != nil {
		t.Fatal(err)
	}
	cur := NewHasher(testParams, 1)
	if ok, err := cur.Verify(ctx, enc, "pw"); err != nil || !ok {
		t.Errorf("Verify with other current params = %v, %v; want true, nil", ok, err)
	}
	if !cur.NeedsRehash(enc) {
		t.Error("NeedsRehash = false for a hash with old params")
	}
}

func TestNeedsRehash(t *testing.T) {
	h := NewHasher(testParams, 1)
	salt16 := base64.RawStdEncoding.EncodeToString(make([]byte, 16))
	salt8 := base64.RawStdEncoding.EncodeToString(make([]byte, 8))
	key32 := base64.RawStdEncoding.EncodeToString(make([]byte, 32))
	key16 := base64.RawStdEncoding.EncodeToString(make([]byte, 16))
	tests := []struct {
		name string
		enc  string
		want bool
	}{
		{"current", "$argon2id$v=19$m=8192,t=1,p=1$" + salt16 + "$" + key32, false},
		{"memory differs", "$argon2id$v=19$m=4096,t=1,p=1$" + salt16 + "$" + key32, true},
		{"iterations differ", "$argon2id$v=19$m=8192,t=2,p=1$" + salt16 + "$" + key32, true},
		{"parallelism differs", "$argon2id$v=19$m=8192,t=1,p=2$" + salt16 + "$" + key32, true},
		{"short salt", "$argon2id$v=19$m=8192,t=1,p=1$" + salt8 + "$" + key32, true},
		{"short key", "$argon2id$v=19$m=8192,t=1,p=1$" + salt16 + "$" + key16, true},
		{"malformed", "$argon2i$v=19$m=8192,t=1,p=1$" + salt16 + "$" + key32, true},
		{"empty", "", true},
	}
	for _, tt := range tests {
		t.Run(tt.name, func(t *testing.T) {
			if got := h.NeedsRehash(tt.enc); got != tt.want {
				t.Errorf("NeedsRehash = %v, want %v", got, tt.want)
			}
		})
	}
}

func TestMalformedHashes(t *testing.T) {
	salt := base64.RawStdEncoding.EncodeToString([]byte("0123456789abcdef"))
	key := base64.RawStdEncoding.EncodeToString([]byte("0123456789abcdef0123456789abcdef"))
	tail := "$" + salt + "$" + key
	ok := "$argon2id$v=19$m=8192,t=1,p=1" + tail
	if _, err := ParseHash(ok); err != nil {
		t.Fatalf("control hash rejected: %v", err)
	}
	tests := []struct {
		name, enc, want string
	}{
		{"empty", "", "empty"},
		{"no leading dollar", "argon2id$v=19$m=8192,t=1,p=1" + tail, "does not start"},
		{"argon2i", "$argon2i$v=19$m=8192,t=1,p=1" + tail, `algorithm "argon2i"`},
		{"argon2d", "$argon2d$v=19$m=8192,t=1,p=1" + tail, `algorithm "argon2d"`},
		{"bcrypt", "$2b$10$abcdefghijklmnopqrstuuvwxyzABCDEFGHIJKLMNOPQRSTUVWXYZ01", `algorithm "2b"`},
		{"upper-case algorithm", "$ARGON2ID$v=19$m=8192,t=1,p=1" + tail, "not argon2id"},
		{"old version", "$argon2id$v=16$m=8192,t=1,p=1" + tail, "unsupported version 16"},
		{"version missing", "$argon2id$m=8192,t=1,p=1" + tail, "want 5"},
		{"version not a number", "$argon2id$v=x$m=8192,t=1,p=1" + tail, "version: not a decimal"},
		{"version without v=", "$argon2id$19$m=8192,t=1,p=1" + tail, "missing version"},
		{"only algorithm", "$argon2id", "want 5"},
		{"missing key", "$argon2id$v=19$m=8192,t=1,p=1$" + salt, "want 5"},
		{"extra field", ok + "$extra", "want 5"},
		{"missing parameter", "$argon2id$v=19$m=8192,t=1" + tail, "want parameters m, t, p"},
		{"extra parameter", "$argon2id$v=19$m=8192,t=1,p=1,keyid=abc" + tail, "want parameters m, t, p"},
		{"parameters out of order", "$argon2id$v=19$t=1,m=8192,p=1" + tail, `parameter 1 is not "m"`},
		{"empty parameter", "$argon2id$v=19$m=,t=1,p=1" + tail, "parameter m: empty number"},
		{"negative parameter", "$argon2id$v=19$m=8192,t=-1,p=1" + tail, "parameter t: not a decimal"},
		{"plus sign", "$argon2id$v=19$m=+8192,t=1,p=1" + tail, "parameter m: not a decimal"},
		{"leading zero", "$argon2id$v=19$m=08192,t=1,p=1" + tail, "leading zeros"},
		{"huge number", "$argon2id$v=19$m=99999999999999999999,t=1,p=1" + tail, "number too long"},
		{"absurd memory", "$argon2id$v=19$m=4194304,t=1,p=1" + tail, "memory 4194304 KiB exceeds"},
		{"memory just over 1 GiB", "$argon2id$v=19$m=1048577,t=1,p=1" + tail, "exceeds the limit"},
		{"memory below 8 KiB per lane", "$argon2id$v=19$m=8,t=1,p=2" + tail, "below 8 KiB per lane"},
		{"absurd iterations", "$argon2id$v=19$m=8192,t=65,p=1" + tail, "iterations 65 exceed"},
		{"zero iterations", "$argon2id$v=19$m=8192,t=0,p=1" + tail, "iterations 0 out of range"},
		{"absurd parallelism", "$argon2id$v=19$m=8192,t=1,p=255" + tail, "parallelism 255 exceeds"},
		{"zero parallelism", "$argon2id$v=19$m=8192,t=1,p=0" + tail, "parallelism 0 out of range"},
		{"bad base64 salt", "$argon2id$v=19$m=8192,t=1,p=1$!!!!$" + key, "salt: not unpadded"},
		{"padded salt", "$argon2id$v=19$m=8192,t=1,p=1$" + salt + "==$" + key, "salt: not unpadded"},
		{"url-safe base64 key", "$argon2id$v=19$m=8192,t=1,p=1$" + salt + "$" + strings.Repeat("_", 43), "key: not unpadded"},
		{"newline in key", "$argon2id$v=19$m=8192,t=1,p=1$" + salt + "$" + key[:20] + "\n" + key[20:], "key: not unpadded"},
		{"non-canonical base64 key", "$argon2id$v=19$m=8192,t=1,p=1$" + salt + "$" + key[:42] + "B", "key: not canonical"},
		{"impossible base64 length", "$argon2id$v=19$m=8192,t=1,p=1$" + salt + "$" + key + "AA", "key: not canonical"},
		{"empty salt", "$argon2id$v=19$m=8192,t=1,p=1$$" + key, "salt: empty"},
		{"short salt", "$argon2id$v=19$m=8192,t=1,p=1$AAAA$" + key, "salt length 3"},
		{"short key", "$argon2id$v=19$m=8192,t=1,p=1$" + salt + "$" + base64.RawStdEncoding.EncodeToString(make([]byte, 15)), "key length 15"},
		{"long key", "$argon2id$v=19$m=8192,t=1,p=1$" + salt + "$" + base64.RawStdEncoding.EncodeToString(make([]byte, 65)), "key length 65"},
		{"too long", ok + strings.Repeat("A", 600), "longer than 512"},
	}
	h := NewHasher(testParams, 1)
	calls := countComputations(h)
	for _, tt := range tests {
		t.Run(tt.name, func(t *testing.T) {
			_, err := ParseHash(tt.enc)
			if !errors.Is(err, ErrMalformedHash) {
				t.Fatalf("ParseHash error = %v, want ErrMalformedHash", err)
			}
			if !strings.Contains(err.Error(), tt.want) {
				t.Errorf("ParseHash error = %q, want it to mention %q", err, tt.want)
			}
			if strings.Contains(err.Error(), salt) || strings.Contains(err.Error(), key[:20]) {
				t.Errorf("error %q leaks the salt or key", err)
			}
			ok, err := h.Verify(context.Background(), tt.enc, "pw")
			if ok || !errors.Is(err, ErrMalformedHash) {
				t.Errorf("Verify = %v, %v; want false, ErrMalformedHash", ok, err)
			}
		})
	}
	if n := calls.Load(); n != 0 {
		t.Errorf("malformed hashes caused %d argon2 computations, want 0", n)
	}
}

// TestConcurrencyCap checks that at most maxConcurrent argon2 computations
// run at once and that the cap is actually reached.
func TestConcurrencyCap(t *testing.T) {
	ctx := context.Background()
	h := NewHasher(testParams, 2)
	enc, err := h.Hash(ctx, "pw")
	if err != nil {
		t.Fatal(err)
	}
	var inFlight, peak, total atomic.Int64
	h.beforeCompute = func() {
		total.Add(1)
		n := inFlight.Add(1)
		for {
			p := peak.Load()
			if n <= p || peak.CompareAndSwap(p, n) {
				break
			}
		}
		time.Sleep(10 * time.Millisecond) // widen the window for overlap
	}
	h.afterCompute = func() { inFlight.Add(-1) }

	var wg sync.WaitGroup
	for range 8 {
		wg.Go(func() {
			if ok, err := h.Verify(ctx, enc, "pw"); err != nil || !ok {
				t.Errorf("Verify = %v, %v", ok, err)
			}
		})
	}
	wg.Wait()
	if got := total.Load(); got != 8 {
		t.Errorf("computations = %d, want 8", got)
	}
	if got := peak.Load(); got != 2 {
		t.Errorf("peak concurrent computations = %d, want exactly 2 (the cap)", got)
	}
}

func TestWaitHonoursContext(t *testing.T) {
	h := NewHasher(testParams, 1)
	enc, err := h.Hash(context.Background(), "pw")
	if err != nil {
		t.Fatal(err)
	}
	started := make(chan struct{})
	unblock := make(chan struct{})
	var calls atomic.Int64
	h.beforeCompute = func() {
		if calls.Add(1) == 1 {
			close(started)
			<-unblock
		}
	}
	done := make(chan struct{})
	go func() {
		defer close(done)
		h.Verify(context.Background(), enc, "pw") // holds the only slot
	}()
	<-started

	ctx, cancel := context.WithCancel(context.Background())
	time.AfterFunc(20*time.Millisecond, cancel)
	begin := time.Now()
	ok, err := h.Verify(ctx, enc, "pw")
	if ok || !errors.Is(err, context.Canceled) {
		t.Errorf("Verify while waiting = %v, %v; want false, context.Canceled", ok, err)
	}
	if d := time.Since(begin); d > 2*time.Second {
		t.Errorf("cancelled Verify returned after %v", d)
	}
	tctx, tcancel := context.WithTimeout(context.Background(), 10*time.Millisecond)
	defer tcancel()
	if _, err := h.Hash(tctx, "pw"); !errors.Is(err, context.DeadlineExceeded) {
		t.Errorf("Hash while waiting: err = %v, want context.DeadlineExceeded", err)
	}
	close(unblock)
	<-done

	// A context already done fails even when a slot is free.
	cancelled, c := context.WithCancel(context.Background())
	c()
	if _, err := h.Verify(cancelled, enc, "pw"); !errors.Is(err, context.Canceled) {
		t.Errorf("Verify with cancelled context: err = %v, want context.Canceled", err)
	}
	if n := calls.Load(); n != 1 {
		t.Errorf("argon2 computations = %d, want only the blocking one", n)
	}
}

func FuzzParseHash(f *testing.F) {
	salt := base64.RawStdEncoding.EncodeToString([]byte("0123456789abcdef"))
	key := base64.RawStdEncoding.EncodeToString([]byte("0123456789abcdef0123456789abcdef"))
	f.Add("$argon2id$v=19$m=8192,t=1,p=1$"+salt+"$"+key, uint32(8), uint32(1), uint8(1), "pw")
	f.Add("$argon2id$v=19$m=47104,t=1,p=1$"+salt+"$"+key, uint32(64), uint32(2), uint8(2), "")
	f.Add("$argon2i$v=19$m=8192,t=1,p=1$"+salt+"$"+key, uint32(100), uint32(3), uint8(4), "x")
	f.Add("$argon2id$v=19$m=1048577,t=1,p=1$$", uint32(0), uint32(0), uint8(0), "")
	f.Add("$argon2id$v=19$m=8,t=1,p=1$AAAAAAAAAAA$AAAAAAAAAAAAAAAAAAAAAA", uint32(1<<31), uint32(99), uint8(255), "\x00")
	f.Add("", uint32(0), uint32(0), uint8(0), "")
	f.Fuzz(func(t *testing.T, enc string, m, it uint32, p uint8, password string) {
		// Untrusted input: must not panic; whatever parses is within
		// bounds and re-encodes to exactly the input.
		ph, err := parseHash(enc)
		if err != nil {
			if !errors.Is(err, ErrMalformedHash) {
				t.Fatalf("error %v does not wrap ErrMalformedHash", err)
			}
		} else {
			if err := ph.params.Validate(); err != nil {
				t.Fatalf("parsed params out of bounds: %v", err)
			}
			if re := encodeHash(ph); re != enc {
				t.Fatalf("re-encoding = %q, want %q", re, enc)
			}
		}

		// Round trip: any hash Hash makes parses to its params. Keep the
		// cost tiny.
		params := Params{
			Parallelism: p%4 + 1,
			Iterations:  it%2 + 1,
		}
		params.MemoryKiB = 8*uint32(params.Parallelism) + m%64
		h := NewHasher(params, 1)
		enc2, err := h.Hash(context.Background(), password)
		if err != nil {
			t.Fatalf("Hash(%+v): %v", params, err)
		}
		got, err := ParseHash(enc2)
		if err != nil || got != params {
			t.Fatalf("ParseHash(Hash) = %+v, %v; want %+v", got, err, params)
		}
	})
}

func BenchmarkVerifyDefault(b *testing.B) {
	ctx := context.Background()
	h := NewHasher(DefaultParams(), 1)
	enc, err := h.Hash(ctx, "correct horse battery staple")
	if err != nil {
		b.Fatal(err)
	}
	b.ReportAllocs()
	for b.Loop() {
		if ok, err := h.Verify(ctx, enc, "correct horse battery staple"); err != nil || !ok {
			b.Fatalf("Verify = %v, %v", ok, err)
		}
	}
}
