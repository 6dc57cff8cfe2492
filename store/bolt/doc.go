// Package bolt is a store.Store kept in one bbolt file: the default Gatehouse
// backend, durable across restarts, for a single process.
//
// # File layout
//
// The file holds three top-level buckets:
//
//   - "meta": "format" holds the layout version ("1"); Open refuses other
//     versions.
//   - "kv": key 'k'+key (the prefix byte lets the empty key be stored) maps
//     to an 8-byte big-endian expiry in Unix nanoseconds (0: none) followed
//     by the value.
//   - "sets": key uvarint(len(set))+set+member maps to the member's 8-byte
//     expiry. The length prefix keeps set names apart even when they contain
//     any byte, and the members of one set are contiguous and sorted.
//
// Expired entries are invisible to every method as soon as their expiry has
// passed (by this machine's wall clock, since expiries must survive a
// restart). A background sweeper, stopped by Close, deletes them in small
// write transactions so that it never holds the writer lock for long.
//
// Create, Take and Incr each run inside one bbolt read-write transaction,
// and bbolt serialises those, which makes them atomic. A counter is a "kv"
// record whose value is its decimal number.
//
// Publish and Subscribe are not written to the file: messages fan out
// inside the process to the subscriptions of every handle on the open file
// (see Store.Handle), with the bounded buffer described at
// store.SubscriberBuffer. Only one process can hold the file, so that is
// everyone who can read it.
//
// bbolt takes an exclusive flock on the file, so a second process (or a
// second Open in the same process) waits for at most Options.LockTimeout and
// then fails with an error wrapping ErrLocked that names the file. Code in
// one process that needs its own handle on an open file calls Store.Handle;
// the file stays open, and locked, until the last handle is closed.
package bolt
