package bolt

import (
	"bytes"
	"context"
	"encoding/binary"
	"errors"
	"fmt"
	"log/slog"
	"math"
	"os"
	"path/filepath"
	"strconv"
	"strings"
	"sync"
	"time"

	bbolt "go.etcd.io/bbolt"

	"github.com/gatehouse-sso/gatehouse/store"
	"github.com/gatehouse-sso/gatehouse/store/internal/hub"
)

// Defaults applied by Open to zero Options fields.
const (
	DefaultLockTimeout   = 5 * time.Second
	DefaultSweepInterval = time.Minute
)

// formatVersion is the layout version written to the "meta" bucket.
const formatVersion = "1"

// Sweeper batch bounds: at most sweepScan entries are examined per read
// transaction and at most sweepBatch deleted per write transaction.
const (
	sweepScan  = 10000
	sweepBatch = 1000
)

var (
	metaBucket = []byte("meta")
	kvBucket   = []byte("kv")
	setsBucket = []byte("sets")
	formatKey  = []byte("format")
)

// ErrLocked is wrapped by the error Open returns when another process holds
// the database file.
var ErrLocked = errors.New("file is locked by another process (another gatehouse running?)")

var _ store.Store = (*Store)(nil)

// Options configures Open. The zero value is valid.
type Options struct {
	// LockTimeout bounds how long Open waits for another process to release
	// the file. Zero or negative selects DefaultLockTimeout; Open never waits
	// forever.
	LockTimeout time.Duration
	// SweepInterval is how often expired entries are deleted from the file.
	// Zero selects DefaultSweepInterval; a negative value disables the
	// sweeper (expired entries stay invisible but keep their space).
	SweepInterval time.Duration
	// Logger receives the sweeper's reports. Nil discards them.
	Logger *slog.Logger
}

// Store is a handle on a store.Store backed by a bbolt file. Create it
// with Open (or Handle, for another handle on the same file) and release it
// with Close.
type Store struct {
	*shared

	// mu is held for reading by every operation and for writing by Close,
	// so Close waits for this handle's operations in flight.
	mu     sync.RWMutex
	closed bool

	subsMu sync.Mutex
	subs   map[*hub.Sub]struct{} // this handle's live subscriptions
}

// shared is what every handle on one open file holds in common.
type shared struct {
	db   *bbolt.DB
	path string
	log  *slog.Logger
	now  func() time.Time
	hub  hub.Hub

	refsMu sync.Mutex
	refs   int // open handles

	stop chan struct{} // closed when the last handle closes, to stop the sweeper
	done chan struct{} // closed when the sweeper has returned
}

// Open opens (creating if needed) the bolt store at path. A missing parent
// directory is created with mode 0700 and a new file gets mode 0600. If
// another process holds the file, Open fails after opts.LockTimeout with an
// error wrapping ErrLocked; every error names the file.
func Open(path string, opts Options) (*Store, error) {
	return open(path, opts, time.Now)
}

// open is Open with an injectable clock for tests.
func open(path string, opts Options, now func() time.Time) (*Store, error) {
	if path == "" {
		return nil, errors.New("open bolt store: empty path")
	}
	lockTimeout := opts.LockTimeout
	if lockTimeout <= 0 {
		lockTimeout = DefaultLockTimeout
	}
	sweepInterval := opts.SweepInterval
	if sweepInterval == 0 {
		sweepInterval = DefaultSweepInterval
	}
	log := opts.Logger
	if log == nil {
		log = slog.New(slog.DiscardHandler)
	}

	if err := os.MkdirAll(filepath.Dir(path), 0o700); err != nil {
		return nil, fmt.Errorf("open bolt store %q: create directory: %w", path, err)
	}
	if fi, err := os.Stat(path); err == nil && fi.Mode().IsRegular() && fi.Mode().Perm()&0o077 != 0 {
		log.Warn("bolt store file is accessible to other users; it holds session data, consider chmod 600",
			"path", path, "mode", fi.Mode().Perm().String())
	}

	db, err := bbolt.Open(path, 0o600, &bbolt.Options{Timeout: lockTimeout})
	if err != nil {
		switch {
		case errors.Is(err, bbolt.ErrTimeout):
			return nil, fmt.Errorf("open bolt store %q: %w (waited %s)", path, ErrLocked, lockTimeout)
		case errors.Is(err, bbolt.ErrInvalid), errors.Is(err, bbolt.ErrVersionMismatch), errors.Is(err, bbolt.ErrChecksum):
			return nil, fmt.Errorf("open bolt store %q: not a bolt database, or corrupt: %w", path, err)
		default:
			return nil, fmt.Errorf("open bolt store %q: %w", path, err)
		}
	}
	if err := initBuckets(db); err != nil {
		_ = db.Close()
		return nil, fmt.Errorf("open bolt store %q: %w", path, err)
	}

	sh := &shared{
		db:   db,
		path: path,
		log:  log,
		now:  now,
		refs: 1,
		stop: make(chan struct{}),
		done: make(chan struct{}),
	}
	if sweepInterval > 0 {
		go sh.sweeper(sweepInterval)
	} else {
		close(sh.done)
	}
	return &Store{shared: sh}, nil
}

// Handle returns another handle on the same open file and message bus, as
// a second replica would have on a shared backend: what one handle writes
// or publishes, the other reads or receives. (A second Open of the file in
// the same process fails like one from another process: bbolt locks the
// file.) Each handle is closed on its own; the file is closed, and its
// lock released, when the last one is.
func (s *Store) Handle() (*Store, error) {
	s.mu.RLock()
	defer s.mu.RUnlock()
	if s.closed {
		return nil, store.ErrClosed
	}
	s.refsMu.Lock()
	s.refs++
	s.refsMu.Unlock()
	return &Store{shared: s.shared}, nil
}

// initBuckets creates the buckets of a new file and checks the layout
// version of an existing one.
func initBuckets(db *bbolt.DB) error {
	return db.Update(func(tx *bbolt.Tx) error {
		meta, err := tx.CreateBucketIfNotExists(metaBucket)
		if err != nil {
			return fmt.Errorf("create bucket %q: %w", metaBucket, err)
		}
		switch v := meta.Get(formatKey); {
		case v == nil:
			if err := meta.Put(formatKey, []byte(formatVersion)); err != nil {
				return fmt.Errorf("write format version: %w", err)
			}
		case string(v) != formatVersion:
			return fmt.Errorf("unsupported store format version %q (this build reads %q)", v, formatVersion)
		}
		for _, name := range [][]byte{kvBucket, setsBucket} {
			if _, err := tx.CreateBucketIfNotExists(name); err != nil {
				return fmt.Errorf("create bucket %q: %w", name, err)
			}
		}
		return nil
	})
}

// Path returns the file the store was opened from.
func (s *Store) Path() string { return s.path }

// kvKey encodes a key of the "kv" bucket. bbolt rejects empty keys, hence the
// prefix byte.
func kvKey(key string) []byte {
	b := make([]byte, 0, 1+len(key))
	b = append(b, 'k')
	return append(b, key...)
}

// setPrefix encodes the common prefix of all members of set in the "sets"
// bucket. The uvarint length is self-delimiting, so no other set's keys
// start with it.
func setPrefix(set string) []byte {
	b := make([]byte, 0, binary.MaxVarintLen64+len(set))
	b = binary.AppendUvarint(b, uint64(len(set)))
	return append(b, set...)
}

// memberKey encodes the key of member of set in the "sets" bucket.
func memberKey(set, member string) []byte {
	return append(setPrefix(set), member...)
}

// expiry converts a TTL into a Unix-nanosecond expiry (0: none), saturating
// far-future expiries instead of overflowing.
func (s *shared) expiry(ttl time.Duration) (int64, error) {
	switch {
	case ttl < 0:
		return 0, store.ErrBadTTL
	case ttl == 0:
		return 0, nil
	}
	now := s.now().UnixNano()
	if now > math.MaxInt64-int64(ttl) {
		return math.MaxInt64, nil
	}
	return now + int64(ttl), nil
}

// expired reports whether expiry exp has passed at now (Unix nanoseconds).
func expired(exp, now int64) bool {
	return exp != 0 && now >= exp
}

var errCorrupt = errors.New("corrupt record")

// encodeRecord lays out a "kv" value: expiry then value.
func encodeRecord(exp int64, value []byte) []byte {
	b := make([]byte, 8+len(value))
	binary.BigEndian.PutUint64(b, uint64(exp))
	copy(b[8:], value)
	return b
}

// decodeExpiry reads the expiry at the start of a record or member value.
func decodeExpiry(v []byte) (int64, error) {
	if len(v) < 8 {
		return 0, errCorrupt
	}
	return int64(binary.BigEndian.Uint64(v)), nil
}

// redact hides the part of a key that may be a secret (a session ID, a
// one-time code) while keeping its namespace for diagnosis:
// "session/abc" becomes "session/…".
func redact(key string) string {
	if i := strings.LastIndexByte(key, '/'); i >= 0 {
		return key[:i+1] + "…"
	}
	return "…"
}

// wrap returns the store's sentinel errors as they are and annotates any
// other error with the operation and the redacted key.
func wrap(op, key string, err error) error {
	if err == nil ||
		errors.Is(err, store.ErrNotFound) || errors.Is(err, store.ErrExists) ||
		errors.Is(err, store.ErrClosed) || errors.Is(err, store.ErrBadTTL) ||
		errors.Is(err, store.ErrNotCounter) {
		return err
	}
	return fmt.Errorf("bolt %s %q: %w", op, redact(key), err)
}

// begin checks ctx and the closed flag and, when the store is usable,
// returns with s.mu read-locked; the caller must call s.mu.RUnlock.
func (s *Store) begin(ctx context.Context) error {
	if err := ctx.Err(); err != nil {
		return err
	}
	s.mu.RLock()
	if s.closed {
		s.mu.RUnlock()
		return store.ErrClosed
	}
	return nil
}

// Get returns a copy of the value stored under key, or store.ErrNotFound.
func (s *Store) Get(ctx context.Context, key string) ([]byte, error) {
	if err := s.begin(ctx); err != nil {
		return nil, err
	}
	defer s.mu.RUnlock()
	var out []byte
	now := s.now().UnixNano()
	err := s.db.View(func(tx *bbolt.Tx) error {
		v := tx.Bucket(kvBucket).Get(kvKey(key))
		if v == nil {
			return store.ErrNotFound
		}
		exp, err := decodeExpiry(v)
		if err != nil {
			return err
		}
		if expired(exp, now) {
			return store.ErrNotFound
		}
		out = bytes.Clone(v[8:]) // bbolt's slice is only valid inside the transaction
		if out == nil {
			out = []byte{}
		}
		return nil
	})
	if err != nil {
		return nil, wrap("get", key, err)
	}
	return out, nil
}

// Put stores value under key, replacing any previous value and TTL.
func (s *Store) Put(ctx context.Context, key string, value []byte, ttl time.Duration) error {
	if err := s.begin(ctx); err != nil {
		return err
	}
	defer s.mu.RUnlock()
	exp, err := s.expiry(ttl)
	if err != nil {
		return err
	}
	rec := encodeRecord(exp, value)
	err = s.db.Update(func(tx *bbolt.Tx) error {
		return tx.Bucket(kvBucket).Put(kvKey(key), rec)
	})
	return wrap("put", key, err)
}

// Create stores value under key unless a live value is already there, in
// which case it returns store.ErrExists and writes nothing.
func (s *Store) Create(ctx context.Context, key string, value []byte, ttl time.Duration) error {
	if err := s.begin(ctx); err != nil {
		return err
	}
	defer s.mu.RUnlock()
	exp, err := s.expiry(ttl)
	if err != nil {
		return err
	}
	rec := encodeRecord(exp, value)
	k := kvKey(key)
	err = s.db.Update(func(tx *bbolt.Tx) error {
		b := tx.Bucket(kvBucket)
		if v := b.Get(k); v != nil {
			old, err := decodeExpiry(v)
			if err != nil {
				return err
			}
			if !expired(old, s.now().UnixNano()) {
				return store.ErrExists // rolls back: nothing written
			}
		}
		return b.Put(k, rec)
	})
	return wrap("create", key, err)
}

// Take returns the value under key and deletes it in the same transaction,
// or returns store.ErrNotFound.
func (s *Store) Take(ctx context.Context, key string) ([]byte, error) {
	if err := s.begin(ctx); err != nil {
		return nil, err
	}
	defer s.mu.RUnlock()
	var out []byte
	k := kvKey(key)
	err := s.db.Update(func(tx *bbolt.Tx) error {
		b := tx.Bucket(kvBucket)
		v := b.Get(k)
		if v == nil {
			return store.ErrNotFound // rolls back: nothing written
		}
		exp, err := decodeExpiry(v)
		if err != nil {
			return err
		}
		if expired(exp, s.now().UnixNano()) {
			// Reclaim it now, but report it as absent. Returning nil commits
			// the delete.
			out = nil
			return b.Delete(k)
		}
		out = make([]byte, len(v)-8)
		copy(out, v[8:])
		return b.Delete(k)
	})
	if err != nil {
		return nil, wrap("take", key, err)
	}
	if out == nil {
		return nil, store.ErrNotFound
	}
	return out, nil
}

// Delete removes key; a missing key is not an error.
func (s *Store) Delete(ctx context.Context, key string) error {
	if err := s.begin(ctx); err != nil {
		return err
	}
	defer s.mu.RUnlock()
	err := s.db.Update(func(tx *bbolt.Tx) error {
		return tx.Bucket(kvBucket).Delete(kvKey(key))
	})
	return wrap("delete", key, err)
}

// SetAdd adds member to set, with a membership TTL (zero: never expires).
// Adding an existing member replaces its TTL.
func (s *Store) SetAdd(ctx context.Context, set, member string, ttl time.Duration) error {
	if err := s.begin(ctx); err != nil {
		return err
	}
	defer s.mu.RUnlock()
	exp, err := s.expiry(ttl)
	if err != nil {
		return err
	}
	rec := encodeRecord(exp, nil)
	err = s.db.Update(func(tx *bbolt.Tx) error {
		return tx.Bucket(setsBucket).Put(memberKey(set, member), rec)
	})
	return wrap("set add", set, err)
}

// SetRemove removes member from set; a missing member is not an error.
func (s *Store) SetRemove(ctx context.Context, set, member string) error {
	if err := s.begin(ctx); err != nil {
		return err
	}
	defer s.mu.RUnlock()
	err := s.db.Update(func(tx *bbolt.Tx) error {
		return tx.Bucket(setsBucket).Delete(memberKey(set, member))
	})
	return wrap("set remove", set, err)
}

// SetMembers returns the live members of set in lexical order; a missing set
// yields an empty slice.
func (s *Store) SetMembers(ctx context.Context, set string) ([]string, error) {
	if err := s.begin(ctx); err != nil {
		return nil, err
	}
	defer s.mu.RUnlock()
	prefix := setPrefix(set)
	now := s.now().UnixNano()
	out := []string{}
	err := s.db.View(func(tx *bbolt.Tx) error {
		c := tx.Bucket(setsBucket).Cursor()
		for k, v := c.Seek(prefix); k != nil && bytes.HasPrefix(k, prefix); k, v = c.Next() {
			exp, err := decodeExpiry(v)
			if err != nil {
				return err
			}
			if !expired(exp, now) {
				out = append(out, string(k[len(prefix):])) // string() copies
			}
		}
		return nil
	})
	if err != nil {
		return nil, wrap("set members", set, err)
	}
	return out, nil
}

// Ping checks that the file is open and readable.
func (s *Store) Ping(ctx context.Context) error {
	if err := s.begin(ctx); err != nil {
		return err
	}
	defer s.mu.RUnlock()
	err := s.db.View(func(tx *bbolt.Tx) error {
		if tx.Bucket(kvBucket) == nil || tx.Bucket(setsBucket) == nil {
			return errors.New("buckets missing")
		}
		return nil
	})
	if err != nil {
		return fmt.Errorf("bolt ping %q: %w", s.path, err)
	}
	return nil
}

// Incr adds one to the counter under key, in one read-write transaction;
// see store.Store.
func (s *Store) Incr(ctx context.Context, key string, ttl time.Duration) (int64, error) {
	if err := s.begin(ctx); err != nil {
		return 0, err
	}
	defer s.mu.RUnlock()
	exp, err := s.expiry(ttl)
	if err != nil {
		return 0, err
	}
	k := kvKey(key)
	var n int64
	err = s.db.Update(func(tx *bbolt.Tx) error {
		b := tx.Bucket(kvBucket)
		n = 1
		if v := b.Get(k); v != nil {
			old, err := decodeExpiry(v)
			if err != nil {
				return err
			}
			if !expired(old, s.now().UnixNano()) {
				cur, err := strconv.ParseInt(string(v[8:]), 10, 64)
				if err != nil || cur == math.MaxInt64 {
					return store.ErrNotCounter // rolls back: nothing written
				}
				n, exp = cur+1, old
			}
		}
		return b.Put(k, encodeRecord(exp, strconv.AppendInt(nil, n, 10)))
	})
	if err != nil {
		return 0, wrap("incr", key, err)
	}
	return n, nil
}

// Publish delivers msg to the subscriptions of topic made through any
// handle on this file in this process. Nothing is written to the file.
func (s *Store) Publish(ctx context.Context, topic string, msg []byte) error {
	if err := s.begin(ctx); err != nil {
		return err
	}
	defer s.mu.RUnlock()
	s.hub.Publish(topic, msg)
	return nil
}

// Subscribe listens to topic; see store.Store. The subscription also ends
// when this handle is closed.
func (s *Store) Subscribe(ctx context.Context, topic string) (store.Subscription, error) {
	if err := s.begin(ctx); err != nil {
		return nil, err
	}
	defer s.mu.RUnlock()
	s.subsMu.Lock()
	defer s.subsMu.Unlock()
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

// Close waits for this handle's operations in flight and ends its
// subscriptions; closing the last handle also stops the sweeper and closes
// the file, releasing its lock. Every later call on this handle, Close
// included, returns store.ErrClosed.
func (s *Store) Close() error {
	s.mu.Lock()
	if s.closed {
		s.mu.Unlock()
		return store.ErrClosed
	}
	s.closed = true
	s.mu.Unlock()

	// No Subscribe can register now: it checks closed under mu first.
	s.subsMu.Lock()
	subs := make([]*hub.Sub, 0, len(s.subs))
	for sub := range s.subs {
		subs = append(subs, sub)
	}
	s.subsMu.Unlock()
	for _, sub := range subs {
		_ = sub.Close()
	}

	s.refsMu.Lock()
	s.refs--
	last := s.refs == 0
	s.refsMu.Unlock()
	if !last {
		return nil
	}
	close(s.stop)
	<-s.done
	if err := s.db.Close(); err != nil {
		return fmt.Errorf("close bolt store %q: %w", s.path, err)
	}
	return nil
}
