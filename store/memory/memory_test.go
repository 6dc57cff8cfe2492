package memory_test

import (
	"testing"

	"github.com/gatehouse-sso/gatehouse/store"
	"github.com/gatehouse-sso/gatehouse/store/memory"
	"github.com/gatehouse-sso/gatehouse/store/storetest"
)

func TestConformance(t *testing.T) {
	storetest.Run(t, func(t *testing.T) store.Store { return memory.New() })
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
