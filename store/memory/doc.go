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
//
// Publish and Subscribe fan messages out inside the process, to the
// subscriptions of every handle on the same data (see Store.Handle), with
// the bounded buffer described at store.SubscriberBuffer. Counters (Incr)
// are decimal values in the key space.
package memory
