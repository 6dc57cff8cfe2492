package proxy

import (
	"errors"
	"log/slog"
	"net"
	"net/http"
	"time"
)

// retrier is a route's transport when it has several upstreams with the
// same scheme and base path: a request that could not even be sent,
// because the connection to its upstream could not be made, goes to the
// next healthy upstream instead of failing with 502, and the unreachable
// upstream is taken out of rotation. Nothing reached the unreachable
// upstream, so retrying cannot repeat an action; still, only requests
// without a body are retried (a body may have been partly read), and
// each other upstream is tried at most once.
type retrier struct {
	base http.RoundTripper
	pool *pool
	now  func() time.Time
	log  *slog.Logger
}

func (t *retrier) RoundTrip(req *http.Request) (*http.Response, error) {
	res, err := t.base.RoundTrip(req)
	first := req.URL.Host
	for tries := 1; err != nil && tries < len(t.pool.ups) && req.Body == nil && isDialError(err) && req.Context().Err() == nil; tries++ {
		now := t.now()
		t.pool.markDown(req.URL.Host, now)
		u := t.pool.pickHealthy(now.UnixNano())
		if u == nil {
			break
		}
		t.log.WarnContext(req.Context(), "upstream unreachable, retrying on another", "upstream", req.URL.Host, "next", u.url.Host, "err", err)
		req = req.Clone(req.Context())
		req.URL.Host = u.url.Host
		res, err = t.base.RoundTrip(req)
	}
	if err != nil && req.URL.Host != first && req.Context().Err() == nil {
		// The error handler sees the first upstream only (it is already
		// down); the last one tried failed too.
		t.pool.markDown(req.URL.Host, t.now())
	}
	return res, err
}

// isDialError reports whether err is a failure to connect (refused,
// unreachable, dial timeout): nothing was sent.
func isDialError(err error) bool {
	var op *net.OpError
	return errors.As(err, &op) && op.Op == "dial"
}

// sameBase reports whether every upstream has the same scheme and base
// path, so that a request built for one is right for another once its
// host is changed.
func (p *pool) sameBase() bool {
	for _, u := range p.ups[1:] {
		if u.url.Scheme != p.ups[0].url.Scheme || u.url.Path != p.ups[0].url.Path || u.url.RawPath != p.ups[0].url.RawPath {
			return false
		}
	}
	return true
}

// pickHealthy picks the next upstream in rotation that is not down, or
// nil when all are.
func (p *pool) pickHealthy(now int64) *upstream {
	n := len(p.ups)
	for range n {
		u := p.ups[p.next.Add(1)%uint32(n)]
		if u.downUntil.Load() <= now {
			return u
		}
	}
	return nil
}
