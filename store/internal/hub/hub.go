// Package hub is the in-process message fan-out behind the Publish and
// Subscribe methods of the memory and bolt stores: every handle on one
// backend shares one Hub.
//
// Publishers never block. Each subscription buffers store.SubscriberBuffer
// messages; a message that would take the buffer's last place is replaced by
// a store.Message with Lost set, and messages arriving while the buffer is
// full are dropped. Only publishers (serialised by the hub's mutex) add to a
// buffer, and receivers only take from it, so whenever a buffer is full its
// last message is an unread Lost one: a subscriber that fell behind always
// learns it, right after the messages it did get.
package hub

import (
	"context"
	"sync"

	"github.com/gatehouse-sso/gatehouse/store"
)

// Hub fans messages out to the subscriptions of a topic. The zero value is
// ready to use.
type Hub struct {
	mu     sync.Mutex
	topics map[string]map[*Sub]struct{}
}

// Sub is one subscription; it implements store.Subscription.
type Sub struct {
	h     *Hub
	topic string
	ch    chan store.Message
	ended bool        // guarded by h.mu
	stop  func() bool // guarded by h.mu; stops the ctx watch
	onEnd func(*Sub)
}

var _ store.Subscription = (*Sub)(nil)

// Subscribe adds a subscription to topic. It ends when Close is called or
// ctx ends; onEnd (may be nil) runs once when it does, without the hub's
// lock held.
func (h *Hub) Subscribe(ctx context.Context, topic string, onEnd func(*Sub)) *Sub {
	s := &Sub{h: h, topic: topic, ch: make(chan store.Message, store.SubscriberBuffer), onEnd: onEnd}
	h.mu.Lock()
	if h.topics == nil {
		h.topics = make(map[string]map[*Sub]struct{})
	}
	subs := h.topics[topic]
	if subs == nil {
		subs = make(map[*Sub]struct{})
		h.topics[topic] = subs
	}
	subs[s] = struct{}{}
	h.mu.Unlock()
	stop := context.AfterFunc(ctx, func() { _ = s.Close() })
	h.mu.Lock()
	s.stop = stop
	h.mu.Unlock()
	return s
}

// Publish delivers a copy of msg to every subscription of topic, without
// waiting for any of them.
func (h *Hub) Publish(topic string, msg []byte) {
	h.mu.Lock()
	defer h.mu.Unlock()
	for s := range h.topics[topic] {
		data := make([]byte, len(msg))
		copy(data, msg)
		switch n := len(s.ch); {
		case n < cap(s.ch)-1:
			s.ch <- store.Message{Data: data}
		case n == cap(s.ch)-1:
			s.ch <- store.Message{Lost: true}
		default:
			// Full: its last message is an unread Lost one.
		}
	}
}

// C returns the subscription's channel.
func (s *Sub) C() <-chan store.Message { return s.ch }

// Close ends the subscription and closes its channel. It is idempotent and
// always returns nil.
func (s *Sub) Close() error {
	h := s.h
	h.mu.Lock()
	if s.ended {
		h.mu.Unlock()
		return nil
	}
	s.ended = true
	if subs := h.topics[s.topic]; subs != nil {
		delete(subs, s)
		if len(subs) == 0 {
			delete(h.topics, s.topic)
		}
	}
	close(s.ch)
	stop := s.stop
	h.mu.Unlock()
	if stop != nil {
		stop()
	}
	if s.onEnd != nil {
		s.onEnd(s)
	}
	return nil
}
