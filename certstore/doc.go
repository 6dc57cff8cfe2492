// Package certstore implements certmagic.Storage on Gatehouse's store, so
// that every replica sharing a store shares its ACME accounts, certificates
// and the locks that keep two replicas from asking the CA for the same
// certificate at once.
//
// # Layout in the store
//
//   - "certmagic/<key>" holds the value of certmagic key <key>, behind a
//     9-byte header: a format byte (1) and the modification time as 8
//     big-endian bytes of Unix nanoseconds. Stat reads Modified from it.
//   - The set "certmagic/index" lists every key ever stored and not yet
//     deleted. The store has no prefix scan, so List, directory Exists and
//     directory Stat read this set and filter it by prefix. A key is added to
//     the index before its value is written and removed after its value is
//     deleted, so a crash between the two leaves an index entry without a
//     value (listed, Load says fs.ErrNotExist: certmagic tolerates that),
//     never a value that List cannot see.
//   - "certmagic-lock/<name>" is a lock: a random token, created with
//     store.Create and a TTL (default two minutes), refreshed every third of
//     the TTL while held. A holder that dies stops refreshing and the lock
//     frees itself when the TTL runs out.
//
// Certmagic's "directories" are implicit: a key is a directory when other
// keys start with it followed by "/". Deleting a directory deletes every key
// under it, List returns full keys (direct children, files and directories
// alike, or the whole subtree when recursive), and every method reports a
// missing key with an error wrapping fs.ErrNotExist, as FileStorage does.
//
// # Known races
//
// The store has no compare-and-delete or compare-and-put. Unlock reads the
// lock and deletes it only when it still holds this holder's token; the
// refresher reads before it extends. Between the read and the write the lock
// could expire and be taken by another replica, which would then lose it.
// That requires the holder to have missed refreshing for two thirds of the
// TTL (a stalled process or store), which is exactly the stale-lock case
// certmagic already documents as imperfect (see FileStorage); certmagic
// re-checks storage after taking a lock, so the cost is at worst a duplicate
// ACME order.
//
// A concurrent Store and Delete of the same key can leave the value present
// but unindexed (Load finds it, List does not); certmagic serialises its
// writes to one certificate behind a lock, so this does not arise in
// practice.
package certstore
