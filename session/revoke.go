package session

import (
	"context"
	"crypto/rand"
	"encoding/base64"
	"encoding/json"
	"errors"
	"fmt"
	"log/slog"
	"slices"
	"sync"
	"time"

	"github.com/gatehouse-sso/gatehouse/store"
)

// RevocationTopic is the store topic on which every revocation is
// published: the one seam through which caches (the gateway's sessions and
// bearer tokens) and the OpenID provider (back-channel logout) learn, on
// every replica, that something stopped being valid.
const RevocationTopic = "gatehouse/revocations"

// Kind says what a Revocation revokes.
type Kind string

// Kinds of revocation.
const (
	// KindSession: the SSO session SID of UserID ended (signed out,
	// replaced by a new sign-in in the same browser, or ended with all of
	// its user's sessions). Everything created from it ends with it.
	KindSession Kind = "session"
	// KindUser: every credential of UserID is to be dropped (the user was
	// disabled or deleted); caches must reload the user before trusting
	// anything of theirs again.
	KindUser Kind = "user"
	// KindGrant: the grant GrantID was revoked, and every access and
	// refresh token issued from it (SID and UserID, when known, name its
	// session and user).
	KindGrant Kind = "grant"
	// KindToken: the access token with id JTI was revoked.
	KindToken Kind = "token"
	// KindLost is never published: a Watcher hands it to its handler when
	// revocations may have been missed (the subscriber fell behind, the
	// backend connection broke, or a message could not be read). A cache
	// must then drop everything it holds.
	KindLost Kind = "lost"
)

// Revocation is one message on RevocationTopic.
type Revocation struct {
	Kind    Kind   `json:"kind"`
	SID     string `json:"sid,omitempty"`
	UserID  string `json:"uid,omitempty"`
	GrantID string `json:"gid,omitempty"`
	JTI     string `json:"jti,omitempty"`
}

// message is the wire form: a revocation, or a Watcher's sync marker. ID
// lets the publishing Bus wait for its own watchers to handle it.
type message struct {
	Revocation
	ID   string `json:"id,omitempty"`
	Sync string `json:"sync,omitempty"`
}

// Publish announces r on st's revocation topic without waiting for anyone
// to handle it. Call it after the store already says so (the record
// deleted, the tombstone written), so that a cache refilling on the
// message reads the new state. Bus.Publish also waits for this process.
func Publish(ctx context.Context, st store.Store, r Revocation) error {
	return publish(ctx, st, message{Revocation: r})
}

func publish(ctx context.Context, st store.Store, m message) error {
	b, err := json.Marshal(m)
	if err != nil {
		return fmt.Errorf("publish revocation: encode: %w", err)
	}
	kind := string(m.Kind)
	if m.Sync != "" {
		kind = "sync"
	}
	if err := st.Publish(ctx, RevocationTopic, b); err != nil {
		return fmt.Errorf("publish %s revocation: %w", kind, err)
	}
	return nil
}

// Bus is one process's end of the revocation topic: the watchers of its
// components, and the publishing that waits for them. With it, a
// revocation made in this process has taken effect in this process's
// caches by the time Publish returns, and on other replicas as soon as
// the message reaches them.
type Bus struct {
	st  store.Store
	log *slog.Logger

	mu       sync.Mutex
	watchers []*Watcher
}

// NewBus returns the bus of one process on st. Build one per process and
// share it.
func NewBus(st store.Store, log *slog.Logger) *Bus {
	if log == nil {
		log = slog.New(slog.DiscardHandler)
	}
	return &Bus{st: st, log: log}
}

// localWait bounds how long Bus.Publish waits for this process's watchers.
const localWait = 5 * time.Second

// Publish announces r like the package's Publish, then waits until every
// live watcher of this bus has handled it (at most a few seconds: a late
// watcher is logged, not an error, since the store already says so). A
// watcher's handler must not call it: it would wait for itself.
func (b *Bus) Publish(ctx context.Context, r Revocation) error {
	id := newMarker()
	b.mu.Lock()
	var waits []chan struct{}
	for _, w := range b.watchers {
		if c := w.expect(id); c != nil {
			waits = append(waits, c)
		}
	}
	ws := slices.Clone(b.watchers)
	b.mu.Unlock()
	defer func() {
		for _, w := range ws {
			w.forget(id)
		}
	}()
	if err := publish(ctx, b.st, message{Revocation: r, ID: id}); err != nil {
		return err
	}
	wctx, cancel := context.WithTimeout(ctx, localWait)
	defer cancel()
	for _, c := range waits {
		select {
		case <-c:
		case <-wctx.Done():
			b.log.WarnContext(ctx, "revocation not yet handled in this process; it takes effect when it is", "kind", string(r.Kind))
			return nil
		}
	}
	return nil
}

// Watch subscribes handle to the revocation topic; see the package's
// Watch. Revocations this bus publishes wait for it.
func (b *Bus) Watch(ctx context.Context, handle func(context.Context, Revocation)) (*Watcher, error) {
	w, err := Watch(ctx, b.st, b.log, handle)
	if err != nil {
		return nil, err
	}
	b.mu.Lock()
	b.watchers = append(b.watchers, w)
	b.mu.Unlock()
	go func() {
		<-w.done
		b.mu.Lock()
		b.watchers = slices.DeleteFunc(b.watchers, func(x *Watcher) bool { return x == w })
		b.mu.Unlock()
	}()
	return w, nil
}

// Watcher delivers the revocation topic to one handler.
type Watcher struct {
	st store.Store

	mu      sync.Mutex
	ended   bool
	waiting map[string]chan struct{} // markers and message ids not yet seen
	done    chan struct{}            // closed when the watch ends
}

// Watch subscribes to the revocation topic of st and returns once the
// subscription is in place: every revocation published after that is
// handed to handle, one at a time in publishing order, in a goroutine of
// its own, until ctx ends or st is closed. Revocations that may have been
// missed arrive as a single Revocation of KindLost. handle must not
// block for long: a watcher that falls behind loses messages.
func Watch(ctx context.Context, st store.Store, log *slog.Logger, handle func(context.Context, Revocation)) (*Watcher, error) {
	if log == nil {
		log = slog.New(slog.DiscardHandler)
	}
	sub, err := st.Subscribe(ctx, RevocationTopic)
	if err != nil {
		return nil, fmt.Errorf("watch revocations: %w", err)
	}
	w := &Watcher{st: st, waiting: map[string]chan struct{}{}, done: make(chan struct{})}
	go w.run(ctx, sub, log, handle)
	return w, nil
}

func (w *Watcher) run(ctx context.Context, sub store.Subscription, log *slog.Logger, handle func(context.Context, Revocation)) {
	defer func() {
		w.mu.Lock()
		w.ended = true
		w.mu.Unlock()
		close(w.done)
	}()
	defer sub.Close()
	for m := range sub.C() {
		if m.Lost {
			log.WarnContext(ctx, "revocation messages were lost; dropping every cached credential")
			w.lost(ctx, handle)
			continue
		}
		var msg message
		if err := json.Unmarshal(m.Data, &msg); err != nil {
			log.WarnContext(ctx, "unreadable revocation message; dropping every cached credential", "err", err)
			w.lost(ctx, handle)
			continue
		}
		if msg.Sync != "" {
			w.seen(msg.Sync)
			continue
		}
		switch msg.Kind {
		case KindSession, KindUser, KindGrant, KindToken:
			handle(ctx, msg.Revocation)
		default:
			// A kind this version does not know: assume the worst.
			log.WarnContext(ctx, "unknown revocation kind; dropping every cached credential", "kind", string(msg.Kind))
			handle(ctx, Revocation{Kind: KindLost})
		}
		if msg.ID != "" {
			w.seen(msg.ID)
		}
	}
}

// lost hands KindLost to handle and then releases everyone waiting since
// before: whatever they published was already in the store when the
// handler dropped everything.
func (w *Watcher) lost(ctx context.Context, handle func(context.Context, Revocation)) {
	w.mu.Lock()
	before := w.waiting
	w.waiting = map[string]chan struct{}{}
	w.mu.Unlock()
	handle(ctx, Revocation{Kind: KindLost})
	for _, c := range before {
		close(c)
	}
}

// expect registers a wait for the message id; nil when the watch ended.
func (w *Watcher) expect(id string) chan struct{} {
	w.mu.Lock()
	defer w.mu.Unlock()
	if w.ended {
		return nil
	}
	c := make(chan struct{})
	w.waiting[id] = c
	return c
}

// forget drops a wait for id, if still there.
func (w *Watcher) forget(id string) {
	w.mu.Lock()
	delete(w.waiting, id)
	w.mu.Unlock()
}

// seen releases the wait for id.
func (w *Watcher) seen(id string) {
	w.mu.Lock()
	c, ok := w.waiting[id]
	delete(w.waiting, id)
	w.mu.Unlock()
	if ok {
		close(c)
	}
}

func newMarker() string {
	var b [12]byte
	_, _ = rand.Read(b[:])
	return base64.RawURLEncoding.EncodeToString(b[:])
}

// errWatchEnded is returned by Sync once the watch has ended.
var errWatchEnded = errors.New("revocation watch ended")

// Sync returns once the handler has been called for every revocation
// published, through any handle on the store, before Sync was called; or
// with an error when ctx ends or the watch has ended. It is for tests and
// for waiting on work the handler starts.
func (w *Watcher) Sync(ctx context.Context) error {
	id := newMarker()
	c := w.expect(id)
	if c == nil {
		return errWatchEnded
	}
	defer w.forget(id)
	// A marker can be dropped like any message when the watcher is
	// behind; it is published again until one arrives.
	retry := time.NewTicker(syncRetry)
	defer retry.Stop()
	for {
		if err := publish(ctx, w.st, message{Sync: id}); err != nil {
			return err
		}
		select {
		case <-c:
			return nil
		case <-w.done:
			return errWatchEnded
		case <-ctx.Done():
			return fmt.Errorf("sync revocations: %w", ctx.Err())
		case <-retry.C:
		}
	}
}

// syncRetry is how often Sync publishes its marker again.
const syncRetry = 100 * time.Millisecond
