package server

import (
	"bytes"
	"sync/atomic"
)

// framer follows the HTTP/1.x requests of one connection through the bytes
// the server reads, to find what net/http hides from handlers: a request
// head with both Content-Length and Transfer-Encoding. net/http drops the
// Content-Length and frames the body by Transfer-Encoding (RFC 9112 §6.3
// allows that), which keeps Gatehouse itself safe, but such a request is
// a smuggling attempt aimed at whatever runs in front of or behind it, and
// Gatehouse refuses it with a 400 instead.
//
// It frames the stream the way net/http does (heads end at an empty line,
// bodies are chunked or Content-Length long, HTTP/1.0 ignores
// Transfer-Encoding) and counts the heads whose requests reach a handler
// ("OPTIONS *" does not). When it meets something net/http would refuse,
// it stops: net/http closes such connections. It also stops after a
// request that asks for an upgrade (or CONNECT), whose connection is
// usually handed over; if the upgrade is declined and the connection
// carries on, its later requests are framed by net/http alone (safe, but
// without the precise 400).
//
// feed is called by one reader at a time (net/http's connReader serialises
// reads); bad is read concurrently by the connection's handlers.
type framer struct {
	state     uint8
	remaining uint64 // body or chunk bytes still to skip; CRLF bytes in stateChunkEnd
	line      []byte // a line split across reads

	// The head being read.
	started  bool // the request line was seen
	counted  bool // its request reaches a handler
	http10   bool
	sawCL    bool
	sawTE    bool
	upgrade  bool
	clValue  []byte
	clBad    bool
	heads    int64
	headSize int
	maxHead  int

	// bad is the index (among counted heads) of the first head with both
	// Content-Length and Transfer-Encoding, or -1. After such a head the
	// framer stops, and every later request on the connection is refused
	// too.
	bad atomic.Int64
}

const (
	stateHead uint8 = iota
	stateBody
	stateChunkSize
	stateChunkData
	stateChunkEnd
	stateTrailer
	stateStopped
)

// maxChunkLine is net/http's limit on a chunk-size line.
const maxChunkLine = 4096

func newFramer(maxHeaderBytes int) *framer {
	if maxHeaderBytes <= 0 {
		maxHeaderBytes = 1 << 20 // http.DefaultMaxHeaderBytes
	}
	f := &framer{maxHead: maxHeaderBytes + 4096} // net/http's own slack
	f.bad.Store(-1)
	return f
}

// stopped reports whether the framer no longer follows the stream.
func (f *framer) stopped() bool { return f.state == stateStopped }

// feed follows p, the next bytes read from the connection.
func (f *framer) feed(p []byte) {
	for len(p) > 0 {
		switch f.state {
		case stateStopped:
			return
		case stateBody, stateChunkData:
			n := uint64(len(p))
			if n > f.remaining {
				n = f.remaining
			}
			f.remaining -= n
			p = p[n:]
			if f.remaining == 0 {
				if f.state == stateBody {
					f.state = stateHead
				} else {
					f.state, f.remaining = stateChunkEnd, 2
				}
			}
		case stateChunkEnd:
			want := byte('\n')
			if f.remaining == 2 {
				want = '\r'
			}
			if p[0] != want {
				f.stop()
				return
			}
			p = p[1:]
			if f.remaining--; f.remaining == 0 {
				f.state = stateChunkSize
			}
		default: // line-based states
			i := bytes.IndexByte(p, '\n')
			if i < 0 {
				if len(f.line)+len(p) > f.lineLimit() {
					f.stop()
					return
				}
				f.line = append(f.line, p...)
				if f.state == stateHead {
					f.headSize += len(p)
				}
				return
			}
			line := p[:i]
			if len(f.line) > 0 {
				if len(f.line)+len(line) > f.lineLimit() {
					f.stop()
					return
				}
				f.line = append(f.line, line...)
				line = f.line
			}
			if f.state == stateHead {
				f.headSize += i + 1
				if f.headSize > f.maxHead {
					f.stop()
					return
				}
			}
			p = p[i+1:]
			f.onLine(line)
			f.line = f.line[:0]
		}
	}
}

func (f *framer) lineLimit() int {
	if f.state == stateChunkSize {
		return maxChunkLine
	}
	return f.maxHead
}

func (f *framer) stop() {
	f.state = stateStopped
	f.line = nil
	f.clValue = nil
}

// onLine handles one complete line (without its '\n').
func (f *framer) onLine(line []byte) {
	switch f.state {
	case stateHead:
		f.onHeadLine(bytes.TrimSuffix(line, []byte{'\r'}))
	case stateChunkSize:
		// net/http: CRLF only, no other CR, hex digits before any ';'.
		if len(line) == 0 || line[len(line)-1] != '\r' || bytes.IndexByte(line, '\r') != len(line)-1 {
			f.stop()
			return
		}
		line, _, _ = bytes.Cut(trimTrailingSpace(line[:len(line)-1]), []byte{';'})
		n, ok := parseHex(line)
		if !ok {
			f.stop()
			return
		}
		if n == 0 {
			f.state = stateTrailer
			return
		}
		f.state, f.remaining = stateChunkData, n
	case stateTrailer:
		if len(bytes.TrimSuffix(line, []byte{'\r'})) == 0 {
			f.state = stateHead
		}
	}
}

func (f *framer) onHeadLine(line []byte) {
	if !f.started {
		if len(line) == 0 {
			return // empty lines before a request line
		}
		f.startHead(line)
		return
	}
	if len(line) > 0 {
		if line[0] == ' ' || line[0] == '\t' {
			return // obs-fold continuation of the previous field
		}
		name, value, ok := bytes.Cut(line, []byte{':'})
		if !ok {
			f.stop() // net/http refuses a field line without a colon
			return
		}
		switch {
		case equalFold(name, "content-length"):
			value = bytes.Trim(value, " \t")
			switch {
			case !f.sawCL:
				f.sawCL = true
				f.clValue = append(f.clValue[:0], value...)
			case !bytes.Equal(value, f.clValue):
				f.clBad = true // net/http refuses differing Content-Lengths
			}
		case equalFold(name, "transfer-encoding"):
			f.sawTE = true
		case equalFold(name, "upgrade"):
			f.upgrade = true
		}
		return
	}
	f.endHead()
}

func (f *framer) startHead(line []byte) {
	f.started = true
	f.sawCL, f.sawTE, f.upgrade, f.clBad = false, false, false, false
	f.clValue = f.clValue[:0]
	method, rest, _ := bytes.Cut(line, []byte{' '})
	target, proto, _ := bytes.Cut(rest, []byte{' '})
	f.http10 = string(proto) == "HTTP/1.0"
	// net/http answers "OPTIONS *" itself, without a handler.
	f.counted = !(string(method) == "OPTIONS" && string(target) == "*")
	if string(method) == "CONNECT" {
		f.upgrade = true
	}
}

func (f *framer) endHead() {
	f.started = false
	f.headSize = 0
	idx := f.heads
	if f.counted {
		f.heads++
	}
	if f.sawCL && f.sawTE {
		// For "OPTIONS *", which net/http answers itself, idx is the
		// next request's: nothing after it on the connection is served.
		f.bad.CompareAndSwap(-1, idx)
		f.stop() // the connection is closed after the 400
		return
	}
	if f.upgrade || f.clBad {
		f.stop()
		return
	}
	switch {
	case f.sawTE && !f.http10:
		f.state = stateChunkSize
	case f.sawCL:
		n, ok := parseDecimal(f.clValue)
		if !ok {
			f.stop() // net/http answers 400 and closes
			return
		}
		if n > 0 {
			f.state, f.remaining = stateBody, n
		}
	}
}

// equalFold reports whether b equals the lower-case ASCII name, ignoring
// case.
func equalFold(b []byte, name string) bool {
	if len(b) != len(name) {
		return false
	}
	for i := 0; i < len(b); i++ {
		c := b[i]
		if 'A' <= c && c <= 'Z' {
			c += 'a' - 'A'
		}
		if c != name[i] {
			return false
		}
	}
	return true
}

func trimTrailingSpace(b []byte) []byte {
	for len(b) > 0 && (b[len(b)-1] == ' ' || b[len(b)-1] == '\t') {
		b = b[:len(b)-1]
	}
	return b
}

// parseHex parses a chunk size as net/http does: 1 to 16 hex digits.
func parseHex(b []byte) (uint64, bool) {
	if len(b) == 0 || len(b) > 16 {
		return 0, false
	}
	var n uint64
	for _, c := range b {
		switch {
		case '0' <= c && c <= '9':
			c -= '0'
		case 'a' <= c && c <= 'f':
			c -= 'a' - 10
		case 'A' <= c && c <= 'F':
			c -= 'A' - 10
		default:
			return 0, false
		}
		n = n<<4 | uint64(c)
	}
	return n, true
}

// parseDecimal parses a Content-Length as net/http does: digits only, at
// most 2^63-1.
func parseDecimal(b []byte) (uint64, bool) {
	if len(b) == 0 || len(b) > 19 {
		return 0, false
	}
	var n uint64
	for _, c := range b {
		if c < '0' || c > '9' {
			return 0, false
		}
		n = n*10 + uint64(c-'0')
	}
	return n, n <= 1<<63-1
}
