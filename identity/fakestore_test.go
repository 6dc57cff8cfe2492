package identity

import (
	"context"
	"slices"
	"strconv"
	"sync"
	"time"

	"github.com/gatehouse-sso/gatehouse/store"
	"github.com/gatehouse-sso/gatehouse/store/memory"
)

// fakeStore is a minimal in-memory store.Store for these tests. It may be
// replaced by store/memory once that exists.
type fakeStore struct {
	mu     sync.Mutex
	kv     map[string]fakeEntry
	sets   map[string]map[string]time.Time // member -> expiry (zero: never)
	closed bool

	// failCreate, when set, may fail Create for a key before it runs.
	failCreate func(key string) error

	// bus carries Publish and Subscribe, which these tests do not inspect.
	bus *memory.Store
}

type fakeEntry struct {
	val []byte
	exp time.Time // zero: never
}

var _ store.Store = (*fakeStore)(nil)

func newFakeStore() *fakeStore {
	return &fakeStore{kv: map[string]fakeEntry{}, sets: map[string]map[string]time.Time{}, bus: memory.New()}
}

func expired(exp time.Time) bool { return !exp.IsZero() && !time.Now().Before(exp) }

func expiry(ttl time.Duration) time.Time {
	if ttl == 0 {
		return time.Time{}
	}
	return time.Now().Add(ttl)
}

// check must be called with mu held.
func (s *fakeStore) check(ctx context.Context, ttl time.Duration) error {
	if err := ctx.Err(); err != nil {
		return err
	}
	if s.closed {
		return store.ErrClosed
	}
	if ttl < 0 {
		return store.ErrBadTTL
	}
	return nil
}

// live returns the live entry for key; mu must be held.
func (s *fakeStore) live(key string) (fakeEntry, bool) {
	e, ok := s.kv[key]
	if !ok || expired(e.exp) {
		delete(s.kv, key)
		return fakeEntry{}, false
	}
	return e, true
}

func (s *fakeStore) Get(ctx context.Context, key string) ([]byte, error) {
	s.mu.Lock()
	defer s.mu.Unlock()
	if err := s.check(ctx, 0); err != nil {
		return nil, err
	}
	e, ok := s.live(key)
	if !ok {
		return nil, store.ErrNotFound
	}
	return slices.Clone(e.val), nil
}

func (s *fakeStore) Put(ctx context.Context, key string, value []byte, ttl time.Duration) error {
	s.mu.Lock()
	defer s.mu.Unlock()
	if err := s.check(ctx, ttl); err != nil {
		return err
	}
	s.kv[key] = fakeEntry{val: slices.Clone(value), exp: expiry(ttl)}
	return nil
}

func (s *fakeStore) Create(ctx context.Context, key string, value []byte, ttl time.Duration) error {
	s.mu.Lock()
	defer s.mu.Unlock()
	if err := s.check(ctx, ttl); err != nil {
		return err
	}
	if s.failCreate != nil {
		if err := s.failCreate(key); err != nil {
			return err
		}
	}
	if _, ok := s.live(key); ok {
		return store.ErrExists
	}
	s.kv[key] = fakeEntry{val: slices.Clone(value), exp: expiry(ttl)}
	return nil
}

func (s *fakeStore) Take(ctx context.Context, key string) ([]byte, error) {
	s.mu.Lock()
	defer s.mu.Unlock()
	if err := s.check(ctx, 0); err != nil {
		return nil, err
	}
	e, ok := s.live(key)
	if !ok {
		return nil, store.ErrNotFound
	}
	delete(s.kv, key)
	return e.val, nil
}

func (s *fakeStore) Delete(ctx context.Context, key string) error {
	s.mu.Lock()
	defer s.mu.Unlock()
	if err := s.check(ctx, 0); err != nil {
		return err
	}
	delete(s.kv, key)
	return nil
}

func (s *fakeStore) SetAdd(ctx context.Context, set, member string, ttl time.Duration) error {
	s.mu.Lock()
	defer s.mu.Unlock()
	if err := s.check(ctx, ttl); err != nil {
		return err
	}
	m := s.sets[set]
	if m == nil {
		m = map[string]time.Time{}
		s.sets[set] = m
	}
	m[member] = expiry(ttl)
	return nil
}

func (s *fakeStore) SetRemove(ctx context.Context, set, member string) error {
	s.mu.Lock()
	defer s.mu.Unlock()
	if err := s.check(ctx, 0); err != nil {
		return err
	}
	delete(s.sets[set], member)
	return nil
}

func (s *fakeStore) SetMembers(ctx context.Context, set string) ([]string, error) {
	s.mu.Lock()
	defer s.mu.Unlock()
	if err := s.check(ctx, 0); err != nil {
		return nil, err
	}
	var out []string
	for m, exp := range s.sets[set] {
		if expired(exp) {
			delete(s.sets[set], m)
			continue
		}
		out = append(out, m)
	}
	slices.Sort(out)
	return out, nil
}

func (s *fakeStore) Ping(ctx context.Context) error {
	s.mu.Lock()
	defer s.mu.Unlock()
	return s.check(ctx, 0)
}

func (s *fakeStore) Close() error {
	s.mu.Lock()
	defer s.mu.Unlock()
	if s.closed {
		return store.ErrClosed
	}
	s.closed = true
	return s.bus.Close()
}

func (s *fakeStore) Incr(ctx context.Context, key string, ttl time.Duration) (int64, error) {
	s.mu.Lock()
	defer s.mu.Unlock()
	if err := s.check(ctx, ttl); err != nil {
		return 0, err
	}
	e, ok := s.live(key)
	if !ok {
		e = fakeEntry{val: []byte("0"), exp: expiry(ttl)}
	}
	n, err := strconv.ParseInt(string(e.val), 10, 64)
	if err != nil {
		return 0, store.ErrNotCounter
	}
	n++
	s.kv[key] = fakeEntry{val: strconv.AppendInt(nil, n, 10), exp: e.exp}
	return n, nil
}

func (s *fakeStore) Publish(ctx context.Context, topic string, msg []byte) error {
	return s.bus.Publish(ctx, topic, msg)
}

func (s *fakeStore) Subscribe(ctx context.Context, topic string) (store.Subscription, error) {
	return s.bus.Subscribe(ctx, topic)
}

// keys lists the live keys with the given prefix, sorted.
func (s *fakeStore) keys(prefix string) []string {
	s.mu.Lock()
	defer s.mu.Unlock()
	var out []string
	for k := range s.kv {
		if _, ok := s.live(k); ok && len(k) >= len(prefix) && k[:len(prefix)] == prefix {
			out = append(out, k)
		}
	}
	slices.Sort(out)
	return out
}
