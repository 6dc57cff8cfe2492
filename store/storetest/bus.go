package storetest

import (
	"context"
	"errors"
	"fmt"
	"slices"
	"strconv"
	"sync"
	"testing"
	"time"

	"github.com/gatehouse-sso/gatehouse/store"
)

// deliveryWait bounds how long a published message may take to arrive.
const deliveryWait = 5 * time.Second

func mustIncr(t *testing.T, s store.Store, key string, ttl time.Duration) int64 {
	t.Helper()
	n, err := s.Incr(t.Context(), key, ttl)
	if err != nil {
		t.Fatalf("Incr(%q): %v", key, err)
	}
	return n
}

func testIncr(t *testing.T, s store.Store) {
	ctx := t.Context()
	for want := int64(1); want <= 3; want++ {
		if got := mustIncr(t, s, "hits", time.Hour); got != want {
			t.Fatalf("Incr #%d = %d, want %d", want, got, want)
		}
	}
	// The counter lives in the key space as its decimal value.
	wantValue(t, s, "hits", []byte("3"))
	mustDelete(t, s, "hits")
	if got := mustIncr(t, s, "hits", 0); got != 1 {
		t.Fatalf("Incr after Delete = %d, want 1", got)
	}
	mustPut(t, s, "set-by-put", []byte("41"), 0)
	if got := mustIncr(t, s, "set-by-put", time.Hour); got != 42 {
		t.Fatalf("Incr after Put(41) = %d, want 42", got)
	}
	mustPut(t, s, "negative", []byte("-2"), 0)
	if got := mustIncr(t, s, "negative", 0); got != -1 {
		t.Fatalf("Incr after Put(-2) = %d, want -1", got)
	}
	// Counters are independent of each other, of sets and of odd names.
	for _, k := range []string{"", "\x00", "a/b", "日本"} {
		if got := mustIncr(t, s, k, 0); got != 1 {
			t.Fatalf("Incr(%q) = %d, want 1", k, got)
		}
	}
	mustSetAdd(t, s, "hits", "member", 0)
	if got := mustIncr(t, s, "hits", 0); got != 2 {
		t.Fatalf("Incr beside a set of the same name = %d, want 2", got)
	}
	wantMembers(t, s, "hits", "member")
	if _, err := s.Incr(ctx, "bad-ttl", -time.Second); !errors.Is(err, store.ErrBadTTL) {
		t.Fatalf("Incr(ttl<0) = %v, want ErrBadTTL", err)
	}
	wantNotFound(t, s, "bad-ttl")
}

func testIncrWindow(t *testing.T, x *suite) {
	s := x.s
	start := x.clock.Now()
	if got := mustIncr(t, s, "window", shortTTL); got != 1 {
		t.Fatalf("first Incr = %d, want 1", got)
	}
	mustIncr(t, s, "forever", 0)
	x.clock.SleepUntil(start.Add(shortTTL / 4))
	// A later Incr counts in the same window and does not extend it, even
	// when it names a longer TTL.
	got := mustIncr(t, s, "window", time.Hour)
	if elapsed := x.clock.Now().Sub(start); got != 2 {
		if got == 1 && elapsed >= shortTTL-presentSlack {
			t.Logf("machine too slow to count within the window (%s elapsed)", elapsed)
		} else {
			t.Fatalf("second Incr = %d after %s, want 2", got, elapsed)
		}
	}
	x.clock.SleepUntil(start.Add(expiryWait))
	wantNotFound(t, s, "window")
	wantValue(t, s, "forever", []byte("1"))
	// A new window starts from 1 with the TTL it is given.
	start = x.clock.Now()
	if got := mustIncr(t, s, "window", shortTTL); got != 1 {
		t.Fatalf("Incr after the window = %d, want 1", got)
	}
	x.clock.SleepUntil(start.Add(expiryWait))
	wantNotFound(t, s, "window")
}

func testIncrNotCounter(t *testing.T, s store.Store) {
	for _, v := range []string{"abc", "", "1.5", "12x", " 1", "9223372036854775807", "99999999999999999999"} {
		key := "value/" + v
		mustPut(t, s, key, []byte(v), 0)
		if n, err := s.Incr(t.Context(), key, time.Hour); !errors.Is(err, store.ErrNotCounter) {
			t.Errorf("Incr on %q = %d, %v; want ErrNotCounter", v, n, err)
		}
		wantValue(t, s, key, []byte(v))
	}
}

// testIncrRace increments one counter from many goroutines over two
// handles: every value from 1 to the number of calls is returned once.
func testIncrRace(t *testing.T, x *suite) {
	ctx := t.Context()
	handles := []store.Store{x.s, x.handle()}
	const workers, each = 8, 50
	got := make([][]int64, workers)
	errs := make([]error, workers)
	start := make(chan struct{})
	var wg sync.WaitGroup
	for w := range workers {
		wg.Go(func() {
			s := handles[w%len(handles)]
			<-start
			for range each {
				n, err := s.Incr(ctx, "race", time.Hour)
				if err != nil {
					errs[w] = err
					return
				}
				got[w] = append(got[w], n)
			}
		})
	}
	close(start)
	wg.Wait()
	if err := errors.Join(errs...); err != nil {
		t.Fatalf("Incr: %v", err)
	}
	all := slices.Concat(got...)
	slices.Sort(all)
	for i, n := range all {
		if n != int64(i+1) {
			t.Fatalf("Incr returned %d where %d was due: values lost or repeated", n, i+1)
		}
	}
	if len(all) != workers*each {
		t.Fatalf("%d Incr results, want %d", len(all), workers*each)
	}
	wantValue(t, x.s, "race", []byte(strconv.Itoa(workers*each)))
}

func mustSubscribe(t *testing.T, s store.Store, topic string) store.Subscription {
	t.Helper()
	sub, err := s.Subscribe(t.Context(), topic)
	if err != nil {
		t.Fatalf("Subscribe(%q): %v", topic, err)
	}
	t.Cleanup(func() { _ = sub.Close() })
	return sub
}

func mustPublish(t *testing.T, s store.Store, topic, msg string) {
	t.Helper()
	if err := s.Publish(t.Context(), topic, []byte(msg)); err != nil {
		t.Fatalf("Publish(%q): %v", topic, err)
	}
}

// recv returns the next message of sub, failing the test if none arrives
// in time or the subscription ended.
func recv(t *testing.T, sub store.Subscription) store.Message {
	t.Helper()
	select {
	case m, ok := <-sub.C():
		if !ok {
			t.Fatal("subscription ended while a message was due")
		}
		return m
	case <-time.After(deliveryWait):
		t.Fatalf("no message within %s", deliveryWait)
	}
	return store.Message{}
}

// wantMessage fails unless the next message of sub is msg.
func wantMessage(t *testing.T, sub store.Subscription, msg string) {
	t.Helper()
	m := recv(t, sub)
	if m.Lost || m.Data == nil || string(m.Data) != msg {
		t.Fatalf("received %+v, want %q", m, msg)
	}
}

// wantEnded fails unless sub's channel is closed (after any messages still
// buffered) within deliveryWait.
func wantEnded(t *testing.T, sub store.Subscription) {
	t.Helper()
	deadline := time.After(deliveryWait)
	for {
		select {
		case _, ok := <-sub.C():
			if !ok {
				return
			}
		case <-deadline:
			t.Fatalf("subscription still open %s after it should have ended", deliveryWait)
		}
	}
}

func testPublishSubscribe(t *testing.T, s store.Store) {
	a1 := mustSubscribe(t, s, "a")
	a2 := mustSubscribe(t, s, "a")
	b := mustSubscribe(t, s, "b")
	odd := mustSubscribe(t, s, "a\x00b")

	msg := []byte("hello")
	if err := s.Publish(t.Context(), "a", msg); err != nil {
		t.Fatalf("Publish: %v", err)
	}
	copy(msg, "XXXXX") // the message was copied
	m1, m2 := recv(t, a1), recv(t, a2)
	if string(m1.Data) != "hello" || string(m2.Data) != "hello" || m1.Lost || m2.Lost {
		t.Fatalf("received %+v and %+v, want %q twice", m1, m2, "hello")
	}
	m1.Data[0] = '!' // each receiver owns its copy
	if m2.Data[0] == '!' {
		t.Fatal("two subscribers share one message buffer")
	}

	// Other topics heard nothing: their first message is their own.
	mustPublish(t, s, "b", "for b")
	mustPublish(t, s, "a\x00b", "for a\\0b")
	wantMessage(t, b, "for b")
	wantMessage(t, odd, "for a\\0b")

	// An empty message arrives as an empty, non-nil one.
	if err := s.Publish(t.Context(), "a", nil); err != nil {
		t.Fatalf("Publish(nil): %v", err)
	}
	if m := recv(t, a1); m.Data == nil || len(m.Data) != 0 || m.Lost {
		t.Fatalf("empty message received as %+v", m)
	}
	// Nobody listening is not an error, and keys are not topics.
	mustPublish(t, s, "nobody", "x")
	mustPut(t, s, "a", []byte("a key"), 0)
	mustPublish(t, s, "a", "after put")
	wantMessage(t, a2, "")
	wantMessage(t, a2, "after put")
	wantValue(t, s, "a", []byte("a key"))
}

func testPublishOrder(t *testing.T, s store.Store) {
	sub := mustSubscribe(t, s, "ordered")
	const n = 100 // well below any backend's buffer
	for i := range n {
		mustPublish(t, s, "ordered", strconv.Itoa(i))
	}
	for i := range n {
		wantMessage(t, sub, strconv.Itoa(i))
	}
}

// testPublishAcrossHandles checks that a subscriber sees what is published
// through another handle on the same backend, both ways, and that the
// handles share their data.
func testPublishAcrossHandles(t *testing.T, x *suite) {
	s, h := x.s, x.handle()
	onS := mustSubscribe(t, s, "bus")
	onH := mustSubscribe(t, h, "bus")
	mustPublish(t, h, "bus", "from h")
	wantMessage(t, onS, "from h")
	wantMessage(t, onH, "from h")
	mustPublish(t, s, "bus", "from s")
	wantMessage(t, onS, "from s")
	wantMessage(t, onH, "from s")

	mustPut(t, h, "written-through-h", []byte("v"), 0)
	wantValue(t, s, "written-through-h", []byte("v"))

	// Closing one handle ends its subscriptions only.
	if err := h.Close(); err != nil {
		t.Fatalf("Close(handle): %v", err)
	}
	wantEnded(t, onH)
	mustPublish(t, s, "bus", "after close")
	wantMessage(t, onS, "after close")
	wantValue(t, s, "written-through-h", []byte("v"))
}

// testSlowSubscriber publishes far more than any buffer holds to a
// subscriber that does not read: publishing must not wait for it, and the
// subscriber must then get the messages in order, told by a Lost message
// if any are missing.
func testSlowSubscriber(t *testing.T, s store.Store) {
	const n = 8 * store.SubscriberBuffer
	sub := mustSubscribe(t, s, "slow")
	published := make(chan error, 1)
	go func() {
		for i := range n {
			if err := s.Publish(t.Context(), "slow", []byte(strconv.Itoa(i))); err != nil {
				published <- err
				return
			}
		}
		published <- nil
	}()
	select {
	case err := <-published:
		if err != nil {
			t.Fatalf("Publish: %v", err)
		}
	case <-time.After(30 * time.Second):
		t.Fatal("Publish blocked on a subscriber that does not read")
	}

	// Read everything, then keep publishing "end" until one arrives: by
	// then every earlier message that was kept has been read.
	var data []int
	lost := false
	done := make(chan error, 1)
	go func() {
		for m := range sub.C() {
			switch {
			case m.Lost:
				lost = true
			case string(m.Data) == "end":
				done <- nil
				return
			default:
				i, err := strconv.Atoi(string(m.Data))
				if err != nil {
					done <- fmt.Errorf("unexpected message %q", m.Data)
					return
				}
				data = append(data, i)
			}
		}
		done <- errors.New("subscription ended")
	}()
	deadline := time.After(30 * time.Second)
	for ended := false; !ended; {
		mustPublish(t, s, "slow", "end")
		select {
		case err := <-done:
			if err != nil {
				t.Fatal(err)
			}
			ended = true
		case <-time.After(10 * time.Millisecond):
		case <-deadline:
			t.Fatal("the subscriber never caught up")
		}
	}
	if !slices.IsSorted(data) || len(slices.Compact(slices.Clone(data))) != len(data) {
		t.Fatalf("messages out of order or repeated: %v", data)
	}
	if len(data) < n && !lost {
		t.Fatalf("%d of %d messages delivered and no Lost message", len(data), n)
	}
	t.Logf("%d of %d messages delivered, lost signalled: %v", len(data), n, lost)
}

func testSubscriptionEnds(t *testing.T, x *suite) {
	s := x.s
	// Close ends it, twice is harmless, and others on the topic go on.
	sub := mustSubscribe(t, s, "t")
	other := mustSubscribe(t, s, "t")
	mustPublish(t, s, "t", "buffered")
	if err := sub.Close(); err != nil {
		t.Fatalf("Close: %v", err)
	}
	wantEnded(t, sub)
	if err := sub.Close(); err != nil {
		t.Fatalf("second Close: %v", err)
	}
	mustPublish(t, s, "t", "after")
	wantMessage(t, other, "buffered")
	wantMessage(t, other, "after")

	// The context given to Subscribe ends it.
	ctx, cancel := context.WithCancel(t.Context())
	byCtx, err := s.Subscribe(ctx, "t")
	if err != nil {
		t.Fatalf("Subscribe: %v", err)
	}
	cancel()
	wantEnded(t, byCtx)

	// Closing the store ends the rest.
	if err := s.Close(); err != nil {
		t.Fatalf("Close(store): %v", err)
	}
	wantEnded(t, other)
}
