package proxy

import (
	"bufio"
	"context"
	"encoding/binary"
	"errors"
	"fmt"
	"net"
	"net/http"
	"os"
	"strings"
	"sync"
	"sync/atomic"
	"time"
)

// Upgraded connections (websockets) leave the HTTP server once the
// reverse proxy hijacks them, so the server's graceful shutdown neither
// waits for them nor tells them. The gateway keeps them in a set, and
// Shutdown ends each websocket the way RFC 6455 §7 asks: a close frame
// with 1001 (going away) to the client and to the upstream, sent between
// two frames of the traffic relayed, then waits for both ends to close.
// The client connection is closed only once the client has answered with
// its own close frame (or hung up, or the shutdown deadline passed): closing
// earlier would have the client's close frame arrive at a closed socket,
// which answers with a TCP reset instead of a clean close.

// closeGoingAway is the close code of a server going away (RFC 6455
// §7.4.1).
const closeGoingAway = 1001

// closeLinger bounds the wait for a client's close frame when the shutdown
// has no deadline of its own.
const closeLinger = 5 * time.Second

// upgrades is the set of live upgraded client connections.
type upgrades struct {
	mu       sync.Mutex
	conns    map[*upgradedConn]struct{}
	shutdown bool
	closing  atomic.Bool   // shutdown, readable without the lock
	empty    chan struct{} // closed when the set empties after shutdown began
}

func (u *upgrades) add(c *upgradedConn) bool {
	u.mu.Lock()
	defer u.mu.Unlock()
	if u.shutdown {
		return false
	}
	if u.conns == nil {
		u.conns = map[*upgradedConn]struct{}{}
	}
	u.conns[c] = struct{}{}
	return true
}

func (u *upgrades) remove(c *upgradedConn) {
	u.mu.Lock()
	defer u.mu.Unlock()
	delete(u.conns, c)
	if u.shutdown && len(u.conns) == 0 && u.empty != nil {
		close(u.empty)
		u.empty = nil
	}
}

// Shutdown ends the gateway's websockets: each gets a close frame with
// 1001 (going away), to the client and to the upstream, at the next frame
// boundary; Shutdown then waits until every one has closed, or until ctx
// is done, when the rest are closed at once. Connections upgraded to
// other protocols are closed when ctx is done. Upgrades arriving after
// Shutdown began are refused with 503. It is the server's shutdown hook.
func (g *Gateway) Shutdown(ctx context.Context) error {
	u := &g.upgrades
	u.mu.Lock()
	u.shutdown = true
	u.closing.Store(true)
	conns := make([]*upgradedConn, 0, len(u.conns))
	for c := range u.conns {
		conns = append(conns, c)
	}
	var empty chan struct{}
	if len(u.conns) > 0 {
		empty = make(chan struct{})
		u.empty = empty
	}
	u.mu.Unlock()
	if empty == nil {
		return nil
	}
	g.log.InfoContext(ctx, "closing websockets for shutdown", "count", len(conns))
	// Every relay goes away from now on; the close frames are sent each
	// from its own goroutine: goAway waits for a write in progress, which
	// a client that stopped reading blocks until the deadline's Close
	// below.
	linger, ok := ctx.Deadline()
	if !ok {
		linger = time.Now().Add(closeLinger)
	}
	for _, c := range conns {
		c.linger.Store(linger.UnixNano())
		c.goingAway.Store(true)
	}
	for _, c := range conns {
		go c.goAway()
	}
	select {
	case <-empty:
		return nil
	case <-ctx.Done():
	}
	u.mu.Lock()
	n := len(u.conns)
	for c := range u.conns {
		_ = c.Conn.Close()
	}
	u.mu.Unlock()
	return fmt.Errorf("proxy: %d upgraded connections still open at the shutdown deadline, closed: %w", n, ctx.Err())
}

// upgradeWriter is the ResponseWriter of an upgrade request: it hands the
// reverse proxy a tracked connection when it hijacks.
type upgradeWriter struct {
	http.ResponseWriter
	g         *Gateway
	websocket bool
}

// Hijack takes over the client connection and tracks it.
func (w *upgradeWriter) Hijack() (net.Conn, *bufio.ReadWriter, error) {
	conn, brw, err := http.NewResponseController(w.ResponseWriter).Hijack()
	if err != nil {
		return nil, nil, err
	}
	c := &upgradedConn{Conn: conn, set: &w.g.upgrades, websocket: w.websocket}
	if !w.g.upgrades.add(c) {
		conn.Close()
		return nil, nil, errors.New("proxy: shutting down")
	}
	return c, brw, nil
}

// Unwrap gives http.ResponseController the server's writer.
func (w *upgradeWriter) Unwrap() http.ResponseWriter { return w.ResponseWriter }

// isWebsocket reports a websocket handshake.
func isWebsocket(r *http.Request) bool {
	for _, v := range r.Header["Upgrade"] {
		for _, p := range strings.Split(v, ",") {
			if strings.EqualFold(strings.TrimSpace(p), "websocket") {
				return true
			}
		}
	}
	return false
}

// upgradedConn is a hijacked client connection. The reverse proxy writes
// the upstream's frames to it and reads the client's frames from it; it
// follows the frame boundaries of both directions, so that a close frame
// can be put between two frames: towards the client by writing it, and
// towards the upstream by returning it (masked, as a client's frames are)
// from Read for the proxy to forward.
type upgradedConn struct {
	net.Conn
	set       *upgrades
	websocket bool
	once      sync.Once

	wmu       sync.Mutex
	out       frameCursor // upstream → client
	goingAway atomic.Bool // shutdown asked for the close frames
	sentOut   atomic.Bool // close frame written to the client (written under wmu)

	rmu    sync.Mutex
	in     frameCursor // client → upstream
	sentIn bool        // close frame handed to the upstream

	// dmu orders the read deadlines: Close's wake-up of a blocked Read
	// must not be undone by Read clearing goAway's.
	dmu     sync.Mutex
	closing atomic.Bool  // Close began: Read gives up the connection
	linger  atomic.Int64 // until when (Unix ns) Close waits for the client's close frame
}

// goAway asks for the close frames: the one to the client is written now
// if no frame is half written, else after it; the one to the upstream is
// returned by the next Read at a frame boundary, which a deadline in the
// past wakes up.
func (c *upgradedConn) goAway() {
	if !c.websocket {
		return
	}
	c.wmu.Lock()
	c.goingAway.Store(true)
	if c.out.atBoundary() {
		c.sendOutLocked()
	}
	c.wmu.Unlock()
	c.dmu.Lock()
	if !c.closing.Load() {
		_ = c.Conn.SetReadDeadline(time.Now())
	}
	c.dmu.Unlock()
}

// wokenUp lifts goAway's wake-up deadline and reports true, unless Close
// has set its own (then a timeout ends the reading). goAway's deadline
// may land after Read has already sent the upstream its close frame: the
// timeout it causes is a wake-up too, not an error.
func (c *upgradedConn) wokenUp() bool {
	c.dmu.Lock()
	defer c.dmu.Unlock()
	if c.closing.Load() {
		return false
	}
	_ = c.Conn.SetReadDeadline(time.Time{})
	return true
}

// sendOutLocked writes the close frame to the client.
func (c *upgradedConn) sendOutLocked() {
	if c.sentOut.Load() {
		return
	}
	c.sentOut.Store(true)
	f := [4]byte{0x88, 2}
	binary.BigEndian.PutUint16(f[2:], closeGoingAway)
	_ = c.Conn.SetWriteDeadline(time.Now().Add(5 * time.Second))
	_, _ = c.Conn.Write(f[:])
}

// Write relays the upstream's bytes to the client. Once the close frame
// is out, the rest (the upstream's own close frame) is dropped: the
// client already has one.
func (c *upgradedConn) Write(p []byte) (int, error) {
	if !c.websocket {
		return c.Conn.Write(p)
	}
	c.wmu.Lock()
	defer c.wmu.Unlock()
	if c.sentOut.Load() {
		return len(p), nil
	}
	if !c.goingAway.Load() {
		c.out.feed(p)
		return c.Conn.Write(p)
	}
	// Going away mid-frame: finish the frame, then close.
	n := c.out.untilBoundary(p)
	w, err := c.Conn.Write(p[:n])
	if err != nil {
		return w, err
	}
	c.out.feed(p[:n])
	if c.out.atBoundary() {
		c.sendOutLocked()
	}
	return len(p), nil
}

// Read relays the client's bytes to the upstream; after goAway, at a
// frame boundary, it returns a masked close frame instead, and drops
// what the client sends afterwards (its answering close frame).
func (c *upgradedConn) Read(p []byte) (int, error) {
	if !c.websocket {
		return c.Conn.Read(p)
	}
	c.rmu.Lock()
	defer c.rmu.Unlock()
	for {
		if c.closing.Load() {
			// Close drains the connection from here on.
			return 0, net.ErrClosed
		}
		if c.sentIn {
			// Dropped: the upstream has its close frame. The client's
			// answering close frame is noted, for Close.
			n, err := c.Conn.Read(p)
			c.in.feed(p[:n])
			if err != nil && !(isTimeout(err) && c.wokenUp()) {
				return 0, err
			}
			continue
		}
		going := c.isGoingAway()
		if going && c.in.atBoundary() && len(p) >= 8 {
			c.sentIn = true
			// FIN+close, masked, 2-byte payload; a zero mask key is a
			// valid key and leaves the payload readable.
			copy(p, []byte{0x88, 0x82, 0, 0, 0, 0})
			binary.BigEndian.PutUint16(p[6:], closeGoingAway)
			c.wokenUp()
			return 8, nil
		}
		n, err := c.Conn.Read(p)
		if n == 0 && isTimeout(err) && c.isGoingAway() && c.wokenUp() {
			// Woken up by goAway: send the close frame at once, or
			// first read the rest of the frame in progress.
			continue
		}
		going = going || c.isGoingAway()
		if n > 0 {
			if going {
				n = c.in.untilBoundary(p[:n])
			}
			c.in.feed(p[:n])
		}
		if n == 0 && err == nil {
			continue
		}
		if isTimeout(err) && n > 0 {
			err = nil
		}
		return n, err
	}
}

func (c *upgradedConn) isGoingAway() bool { return c.goingAway.Load() }

// Close closes the client connection and forgets it. A websocket that
// was sent a close frame is closed only after the client's answering
// close frame has been read (or the client hung up, or the linger
// deadline passed): the server closes the TCP connection once the close
// handshake is complete (RFC 6455 §7.1.1), and closing a socket with
// the client's close frame still unread, or about to arrive, resets the
// connection, which the client sees as an error instead of a clean end.
func (c *upgradedConn) Close() error {
	if c.websocket {
		c.awaitClientClose()
	}
	err := c.Conn.Close()
	c.once.Do(func() { c.set.remove(c) })
	return err
}

// awaitClientClose reads, and drops, what the client sends until its close
// frame, when the gateway is going away (and so sends it one). A Read blocked in another goroutine
// (the reverse proxy's copy towards the upstream) is woken up and gives up
// the connection first.
func (c *upgradedConn) awaitClientClose() {
	if !c.goingAway.Load() || c.closing.Load() {
		return
	}
	// Shutdown's goAway runs in its own goroutine and may come after the
	// relay ended: the close frame is sent here then. A write in progress
	// (goAway's, or the relay's to a client that stopped reading) holds
	// wmu: the wait below is bounded by the linger deadline.
	if c.wmu.TryLock() {
		if c.out.atBoundary() {
			c.sendOutLocked()
		}
		c.wmu.Unlock()
		if !c.sentOut.Load() {
			// A frame half relayed, which the gone upstream will not
			// finish: no close frame can follow it.
			return
		}
	}
	c.dmu.Lock()
	c.closing.Store(true)
	_ = c.Conn.SetReadDeadline(time.Now())
	c.dmu.Unlock()
	c.rmu.Lock()
	defer c.rmu.Unlock()
	linger := time.Now().Add(closeLinger)
	if ns := c.linger.Load(); ns != 0 {
		linger = time.Unix(0, ns)
	}
	_ = c.Conn.SetReadDeadline(linger)
	buf := make([]byte, 512)
	for !c.in.sawClose {
		n, err := c.Conn.Read(buf)
		c.in.feed(buf[:n])
		if err != nil {
			return
		}
	}
}

func isTimeout(err error) bool {
	return errors.Is(err, os.ErrDeadlineExceeded)
}

// frameCursor follows websocket frame boundaries in a byte stream
// without keeping the frames (RFC 6455 §5.2).
type frameCursor struct {
	head     [14]byte
	have     int    // header bytes collected
	payload  uint64 // payload bytes left of the current frame
	op       byte   // opcode of the current frame
	sawClose bool   // a whole close frame went by
}

// atBoundary reports whether the bytes seen so far end with a whole
// frame.
func (f *frameCursor) atBoundary() bool { return f.have == 0 && f.payload == 0 }

// headerLen is the length of the frame header collected so far, or 0 when
// more bytes are needed to know it.
func (f *frameCursor) headerLen() int {
	if f.have < 2 {
		return 0
	}
	n := 2
	switch f.head[1] & 0x7f {
	case 126:
		n += 2
	case 127:
		n += 8
	}
	if f.head[1]&0x80 != 0 {
		n += 4
	}
	return n
}

// feed advances over p.
func (f *frameCursor) feed(p []byte) {
	for len(p) > 0 {
		if f.payload > 0 {
			k := uint64(len(p))
			if k > f.payload {
				k = f.payload
			}
			f.payload -= k
			p = p[k:]
			if f.payload == 0 && f.op == 8 {
				f.sawClose = true
			}
			continue
		}
		f.head[f.have] = p[0]
		f.have++
		p = p[1:]
		if n := f.headerLen(); n > 0 && f.have == n {
			switch l := f.head[1] & 0x7f; l {
			case 126:
				f.payload = uint64(binary.BigEndian.Uint16(f.head[2:4]))
			case 127:
				f.payload = binary.BigEndian.Uint64(f.head[2:10])
			default:
				f.payload = uint64(l)
			}
			f.op = f.head[0] & 0x0f
			f.have = 0
			if f.payload == 0 && f.op == 8 {
				f.sawClose = true
			}
		}
	}
}

// untilBoundary is how many bytes of p finish the frame in progress:
// all of p when it does not reach the frame's end, 0 at a boundary.
func (f *frameCursor) untilBoundary(p []byte) int {
	if f.atBoundary() {
		return 0
	}
	g := *f
	for i := 0; i < len(p); {
		if g.payload > 0 {
			k := min(uint64(len(p)-i), g.payload)
			g.payload -= k
			i += int(k)
		} else {
			g.feed(p[i : i+1])
			i++
		}
		if g.atBoundary() {
			return i
		}
	}
	return len(p)
}

// Upgraded is the number of upgraded connections (websockets) still open.
func (g *Gateway) Upgraded() int {
	g.upgrades.mu.Lock()
	defer g.upgrades.mu.Unlock()
	return len(g.upgrades.conns)
}
