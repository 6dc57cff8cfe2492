package memory_test

import (
	"errors"
	"testing"
	"time"

	"github.com/gatehouse-sso/gatehouse/store"
	"github.com/gatehouse-sso/gatehouse/store/memory"
	"github.com/gatehouse-sso/gatehouse/store/storetest"
)

func TestConformance(t *testing.T) {
	storetest.Run(t, storetest.Backend{
		New: func(t *testing.T) store.Store { return memory.New() },
		Clocked: func(t *testing.T, now func() time.Time) store.Store {
			return memory.New(memory.WithClock(now))
		},
		Handle: func(t *testing.T, s store.Store) store.Store {
			h, err := s.(*memory.Store).Handle()
			if err != nil {
				t.Fatalf("Handle: %v", err)
			}
			return h
		},
	})
}

func BenchmarkGet(b *testing.B) {
	s := memory.New()
	defer s.Close()
	storetest.BenchGet(b, s)
}

func BenchmarkPut(b *testing.B) {
	s := memory.New()
	defer s.Close()
	storetest.BenchPut(b, s)
}

// TestHandleOutlivesOriginal checks that the data lives until the last
// handle is closed, whichever it is.
func TestHandleOutlivesOriginal(t *testing.T) {
	s := memory.New()
	h, err := s.Handle()
	if err != nil {
		t.Fatal(err)
	}
	defer h.Close()
	if err := s.Put(t.Context(), "k", []byte("v"), 0); err != nil {
		t.Fatal(err)
	}
	if err := s.Close(); err != nil {
		t.Fatal(err)
	}
	if _, err := s.Handle(); !errors.Is(err, store.ErrClosed) {
		t.Errorf("Handle of a closed handle = %v, want ErrClosed", err)
	}
	if got, err := h.Get(t.Context(), "k"); err != nil || string(got) != "v" {
		t.Fatalf("Get through the remaining handle = %q, %v", got, err)
	}
}
