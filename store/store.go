// Package store defines the small byte-level storage contract every Gatehouse
// backend implements, and the errors they share.
//
// The store knows nothing about sessions, users or tokens: typed records are
// built on top of it by the packages that own them. Backends live in
// sub-packages (store/memory, store/bolt) and all pass the conformance suite
// in store/storetest.
//
// Besides keys, sets and counters, a store is a message bus: Publish and
// Subscribe carry invalidations (a session ended, a token revoked) to every
// process, and every handle in a process, that uses the same backend, so
// that caches in front of the store can drop what the store no longer
// holds. Delivery is at most once: a subscriber that falls behind, or whose
// connection to the backend broke, is told so by a Message with Lost set,
// and must then treat everything it cached as stale.
package store

import (
	"context"
	"errors"
	"time"
)

// ErrNotFound is returned when a key does not exist or has expired.
var ErrNotFound = errors.New("store: not found")

// ErrExists is returned by Create when the key already holds a live value.
var ErrExists = errors.New("store: already exists")

// ErrClosed is returned by every method called after Close.
var ErrClosed = errors.New("store: closed")

// Store is the primitive contract of a key-value backend.
//
// A ttl of zero means the value never expires; a negative ttl is an error.
// Expired entries are invisible to every method, whether or not the backend
// has reclaimed their space yet. Keys and set names are opaque strings;
// callers namespace them (for example "session/<id>").
type Store interface {
	// Get returns the value stored under key, or ErrNotFound.
	Get(ctx context.Context, key string) ([]byte, error)
	// Put stores value under key, replacing any previous value and its TTL.
	Put(ctx context.Context, key string, value []byte, ttl time.Duration) error
	// Create stores value under key only when no live value exists there;
	// otherwise it returns ErrExists and changes nothing. Among concurrent
	// callers for one key, exactly one succeeds.
	Create(ctx context.Context, key string, value []byte, ttl time.Duration) error
	// Take returns the value under key and deletes it in one atomic step, or
	// returns ErrNotFound. Among concurrent callers for one key, exactly one
	// receives the value.
	Take(ctx context.Context, key string) ([]byte, error)
	// Delete removes key. Deleting a missing key is not an error.
	Delete(ctx context.Context, key string) error

	// SetAdd adds member to the set named set. The membership expires after
	// ttl (zero: never); adding an existing member refreshes its TTL.
	SetAdd(ctx context.Context, set, member string, ttl time.Duration) error
	// SetRemove removes member from set. Removing a missing member is not an
	// error.
	SetRemove(ctx context.Context, set, member string) error
	// SetMembers lists the live members of set in lexical order. A missing
	// set is empty, not an error.
	SetMembers(ctx context.Context, set string) ([]string, error)

	// Incr adds one to the counter under key and returns the new value,
	// atomically: among concurrent callers every value is returned exactly
	// once. A missing or expired counter starts at 1 and expires ttl after
	// that first Incr (zero: never); later calls do not extend it, so a
	// counter counts the events of one fixed window. The counter lives in
	// the key space: Get returns its decimal value, Delete resets it, and
	// a Put of a decimal number sets it (keeping that Put's TTL). Incr on
	// a key holding anything else returns ErrNotCounter and changes nothing.
	Incr(ctx context.Context, key string, ttl time.Duration) (int64, error)

	// Publish sends msg to every live subscription to topic, made through
	// any handle on the same backend (every process, for a shared backend).
	// It never waits for a subscriber to read; publishing to a topic
	// nobody listens to is not an error. Topics are independent of keys
	// and sets.
	Publish(ctx context.Context, topic string, msg []byte) error
	// Subscribe listens to topic. Every message published after Subscribe
	// returned is delivered on the subscription's channel, in the order the
	// backend received them, unless the subscriber falls behind (see
	// Message.Lost). The subscription ends, and its channel is closed, when
	// it is closed, when ctx ends, or when the handle it was made through is
	// closed.
	Subscribe(ctx context.Context, topic string) (Subscription, error)

	// Ping reports whether the backend is reachable and usable.
	Ping(ctx context.Context) error
	// Close releases the backend. Later calls return ErrClosed.
	Close() error
}

// ErrBadTTL is returned when a negative TTL is passed.
var ErrBadTTL = errors.New("store: negative ttl")

// ErrNotCounter is returned by Incr when the key holds a value that is not
// a decimal 64-bit integer, or when adding one would overflow it.
var ErrNotCounter = errors.New("store: value is not a counter")

// Subscription is a live subscription to one topic.
type Subscription interface {
	// C delivers the topic's messages. It is closed when the subscription
	// ends.
	C() <-chan Message
	// Close ends the subscription and closes C (messages still buffered
	// may be discarded). Closing an ended subscription does nothing.
	Close() error
}

// Message is one delivery of a Subscription.
type Message struct {
	// Data is the published message (never nil; possibly empty). It
	// belongs to the receiver. It is nil when Lost is set.
	Data []byte
	// Lost reports that messages published before this one may not have
	// been delivered: the subscriber fell behind by more than the backend
	// buffers (SubscriberBuffer for the in-process backends), or the
	// backend lost its connection. A subscriber keeping a cache must drop
	// all of it. Lost is a signal, not a message: Data is nil.
	Lost bool
}

// SubscriberBuffer is how many messages the in-process backends hold for a
// subscription that has not read them. A publish that finds the buffer
// full is dropped for that subscriber, which receives a Message with Lost
// set in the buffer's last place instead: publishers never wait for a
// slow subscriber, and a slow subscriber always learns that it missed
// something.
const SubscriberBuffer = 256
