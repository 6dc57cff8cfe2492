package memory

import (
	"context"
	"math"
	"slices"
	"strconv"
	"sync"
	"time"

	"github.com/gatehouse-sso/gatehouse/store"
	"github.com/gatehouse-sso/gatehouse/store/internal/hub"
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

// Store is a handle on an in-memory store.Store. Its zero value is not
// usable: create it with New (or Handle, for another handle on the same
// data), and Close it.
type Store struct {
	*shared
	closed bool // guarded by shared.mu

	subsMu sync.Mutex
	subs   map[*hub.Sub]struct{} // this handle's live subscriptions
}

// shared is what every handle on one store holds in common.
type shared struct {
	now func() time.Time
	hub hub.Hub

	mu   sync.RWMutex
	refs int // open handles
	kv   map[string]entry
	sets map[string]map[string]time.Time // set -> member -> expiry (zero: none)

	stop chan struct{} // closed when the last handle closes, to stop the janitor
	done chan struct{} // closed by the janitor when it has returned
}

// New returns an empty store with its janitor running.
func New(opts ...Option) *Store {
	c := config{now: time.Now, janitorInterval: DefaultJanitorInterval}
	for _, o := range opts {
		o(&c)
	}
	sh := &shared{
		now:  c.now,
		refs: 1,
		kv:   make(map[string]entry),
		sets: make(map[string]map[string]time.Time),
		stop: make(chan struct{}),
		done: make(chan struct{}),
	}
	go sh.janitor(c.janitorInterval)
	return &Store{shared: sh}
}

// Handle returns another handle on the same data and message bus, as a
// second replica would have on a shared backend: what one handle writes or
// publishes, the other reads or receives. Each handle is closed on its
// own; the data is dropped when the last one is closed.
func (s *Store) Handle() (*Store, error) {
	s.mu.Lock()
	defer s.mu.Unlock()
	if s.closed {
		return nil, store.ErrClosed
	}
	s.refs++
	return &Store{shared: s.shared}, nil
}

// live reports whether an entry expiring at exp is still visible at now.
func live(exp, now time.Time) bool {
	return exp.IsZero() || now.Before(exp)
}

// deadline converts a TTL into an absolute expiry (zero: none).
func (s *shared) deadline(ttl time.Duration) (time.Time, error) {
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

// Incr adds one to the counter under key; see store.Store.
func (s *Store) Incr(ctx context.Context, key string, ttl time.Duration) (int64, error) {
	if err := ctx.Err(); err != nil {
		return 0, err
	}
	s.mu.Lock()
	defer s.mu.Unlock()
	if s.closed {
		return 0, store.ErrClosed
	}
	exp, err := s.deadline(ttl)
	if err != nil {
		return 0, err
	}
	n := int64(1)
	if e, ok := s.kv[key]; ok && live(e.expires, s.now()) {
		v, err := strconv.ParseInt(string(e.value), 10, 64)
		if err != nil || v == math.MaxInt64 {
			return 0, store.ErrNotCounter
		}
		n, exp = v+1, e.expires
	}
	s.kv[key] = entry{value: strconv.AppendInt(nil, n, 10), expires: exp}
	return n, nil
}

// Publish delivers msg to the subscriptions of topic made through any
// handle on this store.
func (s *Store) Publish(ctx context.Context, topic string, msg []byte) error {
	if err := ctx.Err(); err != nil {
		return err
	}
	s.mu.RLock()
	closed := s.closed
	s.mu.RUnlock()
	if closed {
		return store.ErrClosed
	}
	s.hub.Publish(topic, msg)
	return nil
}

// Subscribe listens to topic; see store.Store. The subscription also ends
// when this handle is closed.
func (s *Store) Subscribe(ctx context.Context, topic string) (store.Subscription, error) {
	if err := ctx.Err(); err != nil {
		return nil, err
	}
	// Holding subsMu across the check and the registration keeps Close
	// from missing a subscription made while it runs.
	s.subsMu.Lock()
	defer s.subsMu.Unlock()
	s.mu.RLock()
	closed := s.closed
	s.mu.RUnlock()
	if closed {
		return nil, store.ErrClosed
	}
	sub := s.hub.Subscribe(ctx, topic, s.forget)
	if s.subs == nil {
		s.subs = make(map[*hub.Sub]struct{})
	}
	s.subs[sub] = struct{}{}
	return sub, nil
}

// forget drops an ended subscription from the handle's list.
func (s *Store) forget(sub *hub.Sub) {
	s.subsMu.Lock()
	delete(s.subs, sub)
	s.subsMu.Unlock()
}

// Close ends this handle's subscriptions; closing the last handle also
// stops the janitor and drops all data. Every later call on this handle,
// Close included, returns store.ErrClosed.
func (s *Store) Close() error {
	s.subsMu.Lock()
	s.mu.Lock()
	if s.closed {
		s.mu.Unlock()
		s.subsMu.Unlock()
		return store.ErrClosed
	}
	s.closed = true
	s.refs--
	last := s.refs == 0
	if last {
		s.kv = nil
		s.sets = nil
	}
	s.mu.Unlock()
	subs := make([]*hub.Sub, 0, len(s.subs))
	for sub := range s.subs {
		subs = append(subs, sub)
	}
	s.subsMu.Unlock()
	for _, sub := range subs {
		_ = sub.Close() // calls forget, which takes subsMu
	}

	if last {
		close(s.stop)
		<-s.done
	}
	return nil
}

// janitor reclaims expired entries every interval until Close.
func (s *shared) janitor(interval time.Duration) {
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
func (s *shared) sweep() {
	s.mu.Lock()
	defer s.mu.Unlock()
	if s.refs == 0 {
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
