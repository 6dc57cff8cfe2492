package memory

import (
	"context"
	"slices"
	"sync"
	"time"

	"github.com/gatehouse-sso/gatehouse/store"
)

// DefaultJanitorInterval is how often the janitor reclaims expired entries
// when WithJanitorInterval is not given.
const DefaultJanitorInterval = time.Minute

var _ store.Store = (*Store)(nil)

// Option configures a Store created by New.
type Option func(*config)

type config struct {
	now             func() time.Time
	janitorInterval time.Duration
}

// WithClock makes the store read the current time from now instead of
// time.Now. It exists for tests of code built on the store; the janitor still
// runs on a real ticker.
func WithClock(now func() time.Time) Option {
	return func(c *config) {
		if now != nil {
			c.now = now
		}
	}
}

// WithJanitorInterval sets how often expired entries are reclaimed. A
// non-positive d selects DefaultJanitorInterval.
func WithJanitorInterval(d time.Duration) Option {
	return func(c *config) {
		if d > 0 {
			c.janitorInterval = d
		}
	}
}

// entry is one key's value; a zero expires means no expiry.
type entry struct {
	value   []byte
	expires time.Time
}

// Store is an in-memory store.Store. Its zero value is not usable: create it
// with New, and Close it to stop its janitor.
type Store struct {
	now func() time.Time

	mu     sync.RWMutex
	closed bool
	kv     map[string]entry
	sets   map[string]map[string]time.Time // set -> member -> expiry (zero: none)

	stop chan struct{} // closed by Close to stop the janitor
	done chan struct{} // closed by the janitor when it has returned
}

// New returns an empty store with its janitor running.
func New(opts ...Option) *Store {
	c := config{now: time.Now, janitorInterval: DefaultJanitorInterval}
	for _, o := range opts {
		o(&c)
	}
	s := &Store{
		now:  c.now,
		kv:   make(map[string]entry),
		sets: make(map[string]map[string]time.Time),
		stop: make(chan struct{}),
		done: make(chan struct{}),
	}
	go s.janitor(c.janitorInterval)
	return s
}

// live reports whether an entry expiring at exp is still visible at now.
func live(exp, now time.Time) bool {
	return exp.IsZero() || now.Before(exp)
}

// deadline converts a TTL into an absolute expiry (zero: none).
func (s *Store) deadline(ttl time.Duration) (time.Time, error) {
	switch {
	case ttl < 0:
		return time.Time{}, store.ErrBadTTL
	case ttl == 0:
		return time.Time{}, nil
	default:
		return s.now().Add(ttl), nil
	}
}

// clone returns a copy of b that is never nil.
func clone(b []byte) []byte {
	out := make([]byte, len(b))
	copy(out, b)
	return out
}

// Get returns a copy of the value stored under key, or store.ErrNotFound.
func (s *Store) Get(ctx context.Context, key string) ([]byte, error) {
	if err := ctx.Err(); err != nil {
		return nil, err
	}
	s.mu.RLock()
	defer s.mu.RUnlock()
	if s.closed {
		return nil, store.ErrClosed
	}
	e, ok := s.kv[key]
	if !ok || !live(e.expires, s.now()) {
		return nil, store.ErrNotFound
	}
	return clone(e.value), nil
}

// Put stores a copy of value under key, replacing any previous value and TTL.
func (s *Store) Put(ctx context.Context, key string, value []byte, ttl time.Duration) error {
	if err := ctx.Err(); err != nil {
		return err
	}
	s.mu.Lock()
	defer s.mu.Unlock()
	if s.closed {
		return store.ErrClosed
	}
	exp, err := s.deadline(ttl)
	if err != nil {
		return err
	}
	s.kv[key] = entry{value: clone(value), expires: exp}
	return nil
}

// Create stores a copy of value under key unless a live value is already
// there, in which case it returns store.ErrExists.
func (s *Store) Create(ctx context.Context, key string, value []byte, ttl time.Duration) error {
	if err := ctx.Err(); err != nil {
		return err
	}
	s.mu.Lock()
	defer s.mu.Unlock()
	if s.closed {
		return store.ErrClosed
	}
	exp, err := s.deadline(ttl)
	if err != nil {
		return err
	}
	if e, ok := s.kv[key]; ok && live(e.expires, s.now()) {
		return store.ErrExists
	}
	s.kv[key] = entry{value: clone(value), expires: exp}
	return nil
}

// Take returns the value under key and deletes it, or returns
// store.ErrNotFound.
func (s *Store) Take(ctx context.Context, key string) ([]byte, error) {
	if err := ctx.Err(); err != nil {
		return nil, err
	}
	s.mu.Lock()
	defer s.mu.Unlock()
	if s.closed {
		return nil, store.ErrClosed
	}
	e, ok := s.kv[key]
	if !ok {
		return nil, store.ErrNotFound
	}
	delete(s.kv, key)
	if !live(e.expires, s.now()) {
		return nil, store.ErrNotFound
	}
	// The entry is gone from the map, so its slice can be handed out.
	return e.value, nil
}

// Delete removes key; a missing key is not an error.
func (s *Store) Delete(ctx context.Context, key string) error {
	if err := ctx.Err(); err != nil {
		return err
	}
	s.mu.Lock()
	defer s.mu.Unlock()
	if s.closed {
		return store.ErrClosed
	}
	delete(s.kv, key)
	return nil
}

// SetAdd adds member to set, with a membership TTL (zero: never expires).
// Adding an existing member replaces its TTL.
func (s *Store) SetAdd(ctx context.Context, set, member string, ttl time.Duration) error {
	if err := ctx.Err(); err != nil {
		return err
	}
	s.mu.Lock()
	defer s.mu.Unlock()
	if s.closed {
		return store.ErrClosed
	}
	exp, err := s.deadline(ttl)
	if err != nil {
		return err
	}
	m, ok := s.sets[set]
	if !ok {
		m = make(map[string]time.Time)
		s.sets[set] = m
	}
	m[member] = exp
	return nil
}

// SetRemove removes member from set; a missing member is not an error.
func (s *Store) SetRemove(ctx context.Context, set, member string) error {
	if err := ctx.Err(); err != nil {
		return err
	}
	s.mu.Lock()
	defer s.mu.Unlock()
	if s.closed {
		return store.ErrClosed
	}
	if m, ok := s.sets[set]; ok {
		delete(m, member)
		if len(m) == 0 {
			delete(s.sets, set)
		}
	}
	return nil
}

// SetMembers returns the live members of set in lexical order; a missing set
// yields an empty slice.
func (s *Store) SetMembers(ctx context.Context, set string) ([]string, error) {
	if err := ctx.Err(); err != nil {
		return nil, err
	}
	s.mu.RLock()
	defer s.mu.RUnlock()
	if s.closed {
		return nil, store.ErrClosed
	}
	now := s.now()
	m := s.sets[set]
	out := make([]string, 0, len(m))
	for member, exp := range m {
		if live(exp, now) {
			out = append(out, member)
		}
	}
	slices.Sort(out)
	return out, nil
}

// Ping reports store.ErrClosed after Close and nil otherwise.
func (s *Store) Ping(ctx context.Context) error {
	if err := ctx.Err(); err != nil {
		return err
	}
	s.mu.RLock()
	defer s.mu.RUnlock()
	if s.closed {
		return store.ErrClosed
	}
	return nil
}

// Close stops the janitor and drops all data. Every later call, Close
// included, returns store.ErrClosed.
func (s *Store) Close() error {
	s.mu.Lock()
	if s.closed {
		s.mu.Unlock()
		return store.ErrClosed
	}
	s.closed = true
	s.kv = nil
	s.sets = nil
	s.mu.Unlock()

	close(s.stop)
	<-s.done
	return nil
}

// janitor reclaims expired entries every interval until Close.
func (s *Store) janitor(interval time.Duration) {
	defer close(s.done)
	t := time.NewTicker(interval)
	defer t.Stop()
	for {
		select {
		case <-s.stop:
			return
		case <-t.C:
			s.sweep()
		}
	}
}

// sweep deletes every expired key and set member, and sets left empty.
func (s *Store) sweep() {
	s.mu.Lock()
	defer s.mu.Unlock()
	if s.closed {
		return
	}
	now := s.now()
	for k, e := range s.kv {
		if !live(e.expires, now) {
			delete(s.kv, k)
		}
	}
	for name, m := range s.sets {
		for member, exp := range m {
			if !live(exp, now) {
				delete(m, member)
			}
		}
		if len(m) == 0 {
			delete(s.sets, name)
		}
	}
}
