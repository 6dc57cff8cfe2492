package policy

import (
	"testing"
	"unicode/utf8"

	"golang.org/x/text/unicode/norm"
)

// extraLookalikes must stay in sync with the list in gen_lookalike.go:
// look-alike slashes and backslashes that NFKC leaves alone.
var extraLookalikes = []rune{
	0x2044, 0x2215, 0x27CB, 0x29F8, 0x2571, 0x1D23A, // slashes
	0x2216, 0x27CD, 0x29F5, 0x29F9, 0x2572, 0x1D23B, // backslashes
}

// nfkcASCII reports whether NFKC turns r into a string with an ASCII byte.
func nfkcASCII(r rune) bool {
	for _, c := range []byte(norm.NFKC.String(string(r))) {
		if c < 0x80 {
			return true
		}
	}
	return false
}

// TestLookalikeTable: the generated table holds exactly the non-ASCII code
// points NFKC maps to something with ASCII in it, and the extra
// look-alikes (regenerate with `go generate ./policy/` when this fails
// after a golang.org/x/text update).
func TestLookalikeTable(t *testing.T) {
	extra := map[rune]bool{}
	for _, r := range extraLookalikes {
		extra[r] = true
	}
	for i := 1; i < len(lookalikeRanges); i++ {
		if lookalikeRanges[i][0] <= lookalikeRanges[i-1][1]+1 {
			t.Fatalf("ranges %d and %d are not sorted and disjoint", i-1, i)
		}
	}
	bad := 0
	for r := rune(0); r <= utf8.MaxRune; r++ {
		if !utf8.ValidRune(r) {
			continue
		}
		want := r >= 0x80 && (extra[r] || nfkcASCII(r))
		if got := lookalike(r); got != want && bad < 20 {
			bad++
			t.Errorf("lookalike(%U) = %t, want %t (NFKC %q)", r, got, want, norm.NFKC.String(string(r)))
		}
	}
}

// TestLookalikeAt: the percent-encoded UTF-8 decoder behind the check.
func TestLookalikeAt(t *testing.T) {
	tests := []struct {
		p    string
		want bool
	}{
		{"%EF%BC%8F", true},     // U+FF0F
		{"%E2%88%95", true},     // U+2215
		{"%C2%A0", true},        // no-break space
		{"%F0%9D%90%9A", true},  // U+1D41A
		{"%C3%A9", false},       // é
		{"%E4%B8%AD", false},    // 中
		{"%EF%BC", false},       // truncated
		{"%EF%BCx%8F", false},   // interrupted
		{"%EF%41%8F", false},    // not a continuation byte
		{"%C0%AF", false},       // overlong (refused elsewhere)
		{"%ED%A0%80", false},    // surrogate
		{"%F4%90%80%80", false}, // beyond U+10FFFF
		{"%FF", false},
	}
	for _, tt := range tests {
		if got := lookalikeAt(tt.p, 0); got != tt.want {
			t.Errorf("lookalikeAt(%q) = %t, want %t", tt.p, got, tt.want)
		}
	}
}
