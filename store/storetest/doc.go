// Package storetest is the conformance suite every store.Store backend must
// pass, plus shared benchmarks.
//
// A backend's test file hooks it in with a few lines:
//
//	func TestConformance(t *testing.T) {
//		storetest.Run(t, func(t *testing.T) store.Store { return memory.New() })
//	}
//
// The suite uses real time, because a networked backend such as Redis expires
// keys by its own clock: TTLs are a few hundred milliseconds, and a check
// that a value is still present is only failed when it ran well before the
// TTL could have passed, so a loaded machine makes the suite slower, not
// flaky.
//
// Behaviour the suite pins down beyond the store.Store comments:
//
//   - Every method checks ctx.Err() first and returns it (possibly wrapped)
//     without side effects; after that it returns store.ErrClosed if the
//     store is closed.
//   - A second Close returns store.ErrClosed; it must not panic or block.
//   - Values are copied in both directions: the caller may modify the slice
//     it passed to Put or Create, or received from Get or Take.
//   - Keys, set names and members are arbitrary strings, including the empty
//     string, NUL bytes, '/', invalid UTF-8 and non-ASCII; values are
//     arbitrary bytes, including empty.
//   - The key space and the set-name space are independent: a key and a set
//     with the same name do not affect each other.
package storetest
