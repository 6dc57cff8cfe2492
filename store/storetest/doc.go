// Package storetest is the conformance suite every store.Store backend must
// pass, plus shared benchmarks.
//
// A backend's test file hooks it in with a few lines:
//
//	func TestConformance(t *testing.T) {
//		storetest.Run(t, storetest.Backend{
//			New:     func(t *testing.T) store.Store { return memory.New() },
//			Clocked: func(t *testing.T, now func() time.Time) store.Store { return memory.New(memory.WithClock(now)) },
//			Handle:  func(t *testing.T, s store.Store) store.Store { h, _ := s.(*memory.Store).Handle(); return h },
//		})
//	}
//
// A backend that can read an injected clock gives Backend.Clocked, and the
// suite then moves a fake clock instead of sleeping. A backend that expires
// keys by its own clock (Redis) cannot, and the suite runs in real time:
// TTLs are a few hundred milliseconds, and a check that a value is still
// present is only failed when it ran well before the TTL could have passed,
// so a loaded machine makes the suite slower, not flaky.
//
// Backend.Handle opens a second handle on the same backend, as a second
// replica would: the bus and counter tests check that a subscriber hears a
// publish made through the other handle and that Incr stays exact across
// handles.
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
//     with the same name do not affect each other. Topics are independent
//     of both; counters live in the key space.
//   - A subscriber that does not read never blocks Publish; when it falls
//     behind it gets the messages that were kept in order, then a Message
//     with Lost set.
package storetest
