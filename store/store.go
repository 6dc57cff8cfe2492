// Package store defines the small byte-level storage contract every Gatehouse
// backend implements, and the errors they share.
//
// The store knows nothing about sessions, users or tokens: typed records are
// built on top of it by the packages that own them. Backends live in
// sub-packages (store/memory, store/bolt) and all pass the conformance suite
// in store/storetest.
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

	// Ping reports whether the backend is reachable and usable.
	Ping(ctx context.Context) error
	// Close releases the backend. Later calls return ErrClosed.
	Close() error
}

// ErrBadTTL is returned when a negative TTL is passed.
var ErrBadTTL = errors.New("store: negative ttl")
