package storetest

import (
	"fmt"
	"testing"
	"time"

	"github.com/gatehouse-sso/gatehouse/store"
)

// benchValueSize is the size of a typical session record.
const benchValueSize = 512

// BenchGet measures Get of existing keys on s, serially and from parallel
// goroutines. s must be empty; the benchmark writes its own keys.
func BenchGet(b *testing.B, s store.Store) {
	ctx := b.Context()
	benchValue := make([]byte, benchValueSize)
	const keys = 1024
	for i := range keys {
		if err := s.Put(ctx, fmt.Sprintf("session/%d", i), benchValue, time.Hour); err != nil {
			b.Fatalf("Put: %v", err)
		}
	}
	b.Run("Serial", func(b *testing.B) {
		b.ReportAllocs()
		i := 0
		for b.Loop() {
			if _, err := s.Get(ctx, fmt.Sprintf("session/%d", i%keys)); err != nil {
				b.Fatalf("Get: %v", err)
			}
			i++
		}
	})
	b.Run("Parallel", func(b *testing.B) {
		b.ReportAllocs()
		b.RunParallel(func(pb *testing.PB) {
			i := 0
			for pb.Next() {
				if _, err := s.Get(ctx, fmt.Sprintf("session/%d", i%keys)); err != nil {
					b.Errorf("Get: %v", err)
					return
				}
				i++
			}
		})
	})
}

// BenchPut measures Put with a TTL on s, serially and from parallel
// goroutines.
func BenchPut(b *testing.B, s store.Store) {
	ctx := b.Context()
	benchValue := make([]byte, benchValueSize)
	b.Run("Serial", func(b *testing.B) {
		b.ReportAllocs()
		i := 0
		for b.Loop() {
			if err := s.Put(ctx, fmt.Sprintf("session/%d", i%4096), benchValue, time.Hour); err != nil {
				b.Fatalf("Put: %v", err)
			}
			i++
		}
	})
	b.Run("Parallel", func(b *testing.B) {
		b.ReportAllocs()
		b.RunParallel(func(pb *testing.PB) {
			i := 0
			for pb.Next() {
				if err := s.Put(ctx, fmt.Sprintf("session/%d", i%4096), benchValue, time.Hour); err != nil {
					b.Errorf("Put: %v", err)
					return
				}
				i++
			}
		})
	})
}
