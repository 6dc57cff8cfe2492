package certstore

import (
	"context"
	"encoding/binary"
	"errors"
	"fmt"
	"io/fs"
	"log/slog"
	"slices"
	"strings"
	"sync"
	"time"

	"github.com/caddyserver/certmagic"

	"github.com/gatehouse-sso/gatehouse/store"
)

// Names in the store.
const (
	// DataPrefix prefixes every certmagic key in the store.
	DataPrefix = "certmagic/"
	// IndexSet is the set listing every stored certmagic key.
	IndexSet = "certmagic/index"
	// LockPrefix prefixes the lock keys.
	LockPrefix = "certmagic-lock/"
)

// Defaults for Options.
const (
	DefaultLockTTL  = 2 * time.Minute
	DefaultLockPoll = 250 * time.Millisecond
)

// headerLen is the size of the header in front of every stored value.
const headerLen = 9

// formatV1 is the first byte of a value's header.
const formatV1 = 1

var (
	_ certmagic.Storage   = (*Storage)(nil)
	_ certmagic.TryLocker = (*Storage)(nil)
)

// Options configures New. The zero value is valid.
type Options struct {
	// LockTTL is how long a lock outlives a holder that stopped refreshing
	// it (crashed). The holder refreshes it every LockTTL/3. Zero selects
	// DefaultLockTTL.
	LockTTL time.Duration
	// LockPoll is the first wait before trying a taken lock again; the wait
	// doubles (with jitter) up to 8×LockPoll. Zero selects DefaultLockPoll.
	LockPoll time.Duration
	// Now is the clock for modification times. Nil selects time.Now.
	Now func() time.Time
	// Logger receives reports about lost or unrefreshable locks. Nil
	// discards them.
	Logger *slog.Logger
}

// Storage is a certmagic.Storage (and TryLocker) on a store.Store. It is
// safe for concurrent use; two Storage values on one store.Store (or on
// stores shared by replicas) see the same keys and exclude each other's
// locks.
type Storage struct {
	st       store.Store
	now      func() time.Time
	log      *slog.Logger
	lockTTL  time.Duration
	lockPoll time.Duration

	mu   sync.Mutex
	held map[string]*lease // lock name -> our lease
}

// New returns a Storage keeping its data in st.
func New(st store.Store, o Options) *Storage {
	s := &Storage{
		st:       st,
		now:      o.Now,
		log:      o.Logger,
		lockTTL:  o.LockTTL,
		lockPoll: o.LockPoll,
		held:     make(map[string]*lease),
	}
	if s.now == nil {
		s.now = time.Now
	}
	if s.log == nil {
		s.log = slog.New(slog.DiscardHandler)
	}
	if s.lockTTL <= 0 {
		s.lockTTL = DefaultLockTTL
	}
	if s.lockPoll <= 0 {
		s.lockPoll = DefaultLockPoll
	}
	return s
}

// String names the storage in certmagic's logs without exposing internals.
func (s *Storage) String() string { return "gatehouse-store" }

// cleanKey trims the slashes certmagic keys must not have. The empty key is
// the root "directory".
func cleanKey(key string) string { return strings.Trim(key, "/") }

func encode(modified time.Time, value []byte) []byte {
	b := make([]byte, headerLen+len(value))
	b[0] = formatV1
	binary.BigEndian.PutUint64(b[1:headerLen], uint64(modified.UnixNano()))
	copy(b[headerLen:], value)
	return b
}

func decode(b []byte) (time.Time, []byte, error) {
	if len(b) < headerLen || b[0] != formatV1 {
		return time.Time{}, nil, errors.New("stored value has no valid header")
	}
	ns := int64(binary.BigEndian.Uint64(b[1:headerLen]))
	return time.Unix(0, ns), b[headerLen:], nil
}

// Store puts value at key, replacing any previous value.
func (s *Storage) Store(ctx context.Context, key string, value []byte) error {
	k := cleanKey(key)
	if k == "" {
		return errors.New("certstore: store: empty key")
	}
	// Index first: a crash in between leaves a listed key without a value,
	// never a value List cannot find.
	if err := s.st.SetAdd(ctx, IndexSet, k, 0); err != nil {
		return fmt.Errorf("certstore: store %q: index: %w", k, err)
	}
	if err := s.st.Put(ctx, DataPrefix+k, encode(s.now(), value), 0); err != nil {
		return fmt.Errorf("certstore: store %q: %w", k, err)
	}
	return nil
}

// get loads the value and modification time of the file key k.
func (s *Storage) get(ctx context.Context, k string) (time.Time, []byte, error) {
	if k == "" {
		return time.Time{}, nil, fs.ErrNotExist
	}
	b, err := s.st.Get(ctx, DataPrefix+k)
	if errors.Is(err, store.ErrNotFound) {
		return time.Time{}, nil, fs.ErrNotExist
	}
	if err != nil {
		return time.Time{}, nil, err
	}
	mod, v, err := decode(b)
	if err != nil {
		return time.Time{}, nil, err
	}
	return mod, v, nil
}

// Load returns the value at key, or an error wrapping fs.ErrNotExist.
func (s *Storage) Load(ctx context.Context, key string) ([]byte, error) {
	k := cleanKey(key)
	_, v, err := s.get(ctx, k)
	if err != nil {
		return nil, fmt.Errorf("certstore: load %q: %w", k, err)
	}
	return v, nil
}

// under returns the indexed keys strictly below the directory k (all keys
// for the root), in lexical order.
func (s *Storage) under(ctx context.Context, k string) ([]string, error) {
	members, err := s.st.SetMembers(ctx, IndexSet)
	if err != nil {
		return nil, fmt.Errorf("read index: %w", err)
	}
	if k == "" {
		return members, nil
	}
	p := k + "/"
	out := members[:0]
	for _, m := range members {
		if strings.HasPrefix(m, p) {
			out = append(out, m)
		}
	}
	return out, nil
}

// Delete removes key and, when key is a directory, every key under it.
// A missing key is not an error.
func (s *Storage) Delete(ctx context.Context, key string) error {
	k := cleanKey(key)
	if k == "" {
		return errors.New("certstore: delete: empty key (refusing to delete everything)")
	}
	keys, err := s.under(ctx, k)
	if err != nil {
		return fmt.Errorf("certstore: delete %q: %w", k, err)
	}
	keys = append(keys, k)
	for _, m := range keys {
		if err := s.st.Delete(ctx, DataPrefix+m); err != nil {
			return fmt.Errorf("certstore: delete %q: %w", m, err)
		}
		if err := s.st.SetRemove(ctx, IndexSet, m); err != nil {
			return fmt.Errorf("certstore: delete %q: index: %w", m, err)
		}
	}
	return nil
}

// Exists reports whether key is a file or a directory. Errors count as
// "does not exist", as the interface has no way to report them.
func (s *Storage) Exists(ctx context.Context, key string) bool {
	k := cleanKey(key)
	if _, _, err := s.get(ctx, k); err == nil {
		return true
	}
	keys, err := s.under(ctx, k)
	return err == nil && len(keys) > 0
}

// List returns the keys under the directory prefix: its direct children
// (files and directories) or, when recursive, every file and directory
// below it. A prefix that is neither a file nor a directory is an error
// wrapping fs.ErrNotExist; a file has no children.
func (s *Storage) List(ctx context.Context, prefix string, recursive bool) ([]string, error) {
	p := cleanKey(prefix)
	keys, err := s.under(ctx, p)
	if err != nil {
		return nil, fmt.Errorf("certstore: list %q: %w", p, err)
	}
	if len(keys) == 0 {
		if _, _, err := s.get(ctx, p); err == nil {
			return nil, nil
		}
		return nil, fmt.Errorf("certstore: list %q: %w", p, fs.ErrNotExist)
	}
	base := 0
	if p != "" {
		base = len(p) + 1
	}
	seen := make(map[string]struct{}, len(keys))
	var out []string
	add := func(key string) {
		if _, ok := seen[key]; !ok {
			seen[key] = struct{}{}
			out = append(out, key)
		}
	}
	for _, m := range keys {
		rest := m[base:]
		if !recursive {
			if i := strings.IndexByte(rest, '/'); i >= 0 {
				rest = rest[:i]
			}
			add(m[:base+len(rest)])
			continue
		}
		// Every directory on the way down, then the file itself.
		for i := 0; i < len(rest); i++ {
			if rest[i] == '/' {
				add(m[:base+i])
			}
		}
		add(m)
	}
	// Walk order: a directory before its contents, siblings by name.
	slices.SortFunc(out, func(a, b string) int {
		return strings.Compare(strings.ReplaceAll(a, "/", "\x00"), strings.ReplaceAll(b, "/", "\x00"))
	})
	return out, nil
}

// Stat describes key. A directory's Modified is the newest modification
// time of the files under it (certmagic sorts account directories by it).
func (s *Storage) Stat(ctx context.Context, key string) (certmagic.KeyInfo, error) {
	k := cleanKey(key)
	mod, v, err := s.get(ctx, k)
	switch {
	case err == nil:
		return certmagic.KeyInfo{Key: k, Modified: mod, Size: int64(len(v)), IsTerminal: true}, nil
	case !errors.Is(err, fs.ErrNotExist):
		return certmagic.KeyInfo{}, fmt.Errorf("certstore: stat %q: %w", k, err)
	}
	keys, err := s.under(ctx, k)
	if err != nil {
		return certmagic.KeyInfo{}, fmt.Errorf("certstore: stat %q: %w", k, err)
	}
	if len(keys) == 0 {
		return certmagic.KeyInfo{}, fmt.Errorf("certstore: stat %q: %w", k, fs.ErrNotExist)
	}
	info := certmagic.KeyInfo{Key: k}
	for _, m := range keys {
		mod, _, err := s.get(ctx, m)
		if err != nil {
			continue // indexed but gone: ignore
		}
		if mod.After(info.Modified) {
			info.Modified = mod
		}
	}
	return info, nil
}
