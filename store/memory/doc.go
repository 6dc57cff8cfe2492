// Package memory is an in-process implementation of store.Store.
//
// Everything lives in maps guarded by one mutex, so the data is lost when the
// process exits: use it for tests, development and throw-away demos, never
// for a deployment whose sessions must survive a restart or be shared between
// processes.
//
// Expired entries are invisible as soon as their TTL has passed (expiry is
// checked on every read); a background janitor, stopped by Close, reclaims
// their memory periodically.
package memory
