package bolt

import (
	"bytes"
	"fmt"
	"time"

	bbolt "go.etcd.io/bbolt"
)

// sweeper deletes expired entries once right away (to clear what expired
// while the process was down) and then every interval, until Close.
func (s *shared) sweeper(interval time.Duration) {
	defer close(s.done)
	t := time.NewTicker(interval)
	defer t.Stop()
	for {
		s.sweepAll()
		select {
		case <-s.stop:
			return
		case <-t.C:
		}
	}
}

// sweepAll sweeps both data buckets and logs the outcome.
func (s *shared) sweepAll() {
	keys, err := s.sweepBucket(kvBucket)
	if err != nil {
		s.log.Warn("bolt store sweep failed", "path", s.path, "bucket", string(kvBucket), "err", err)
	}
	members, err := s.sweepBucket(setsBucket)
	if err != nil {
		s.log.Warn("bolt store sweep failed", "path", s.path, "bucket", string(setsBucket), "err", err)
	}
	if keys+members > 0 {
		s.log.Debug("bolt store swept expired entries", "path", s.path, "keys", keys, "set_members", members)
	}
}

// valueExpiry extracts the expiry of a "kv" record or a "sets" member; both
// start with it. A corrupt value counts as not expiring: the sweeper never
// deletes what it cannot read.
func valueExpiry(v []byte) int64 {
	exp, err := decodeExpiry(v)
	if err != nil {
		return 0
	}
	return exp
}

// stopping reports whether Close has asked the sweeper to stop.
func (s *shared) stopping() bool {
	select {
	case <-s.stop:
		return true
	default:
		return false
	}
}

// sweepBucket walks the bucket in batches and deletes its expired entries,
// returning how many it deleted. It stops early when Close is called.
func (s *shared) sweepBucket(name []byte) (int, error) {
	total := 0
	var from []byte
	for !s.stopping() {
		candidates, next, err := s.scanExpired(name, from)
		if err != nil {
			return total, err
		}
		if len(candidates) > 0 {
			n, err := s.deleteExpired(name, candidates)
			total += n
			if err != nil {
				return total, err
			}
		}
		if next == nil {
			break
		}
		from = next
	}
	return total, nil
}

// scanExpired examines up to sweepScan entries from key from (nil: the
// start) in a read transaction, and returns copies of the keys of up to
// sweepBatch expired ones, plus the key to resume at (nil when done).
func (s *shared) scanExpired(name, from []byte) (candidates [][]byte, next []byte, err error) {
	now := s.now().UnixNano()
	err = s.db.View(func(tx *bbolt.Tx) error {
		b := tx.Bucket(name)
		if b == nil {
			return fmt.Errorf("bucket %q missing", name)
		}
		c := b.Cursor()
		var k, v []byte
		if from == nil {
			k, v = c.First()
		} else {
			k, v = c.Seek(from)
		}
		for scanned := 0; k != nil; k, v = c.Next() {
			if scanned == sweepScan || len(candidates) == sweepBatch {
				next = bytes.Clone(k)
				return nil
			}
			scanned++
			if expired(valueExpiry(v), now) {
				candidates = append(candidates, bytes.Clone(k))
			}
		}
		return nil
	})
	return candidates, next, err
}

// deleteExpired deletes those of keys that are still expired: one may have
// been written again since the scan.
func (s *shared) deleteExpired(name []byte, keys [][]byte) (int, error) {
	n := 0
	now := s.now().UnixNano()
	err := s.db.Update(func(tx *bbolt.Tx) error {
		n = 0
		b := tx.Bucket(name)
		if b == nil {
			return fmt.Errorf("bucket %q missing", name)
		}
		for _, k := range keys {
			v := b.Get(k)
			if v == nil || !expired(valueExpiry(v), now) {
				continue
			}
			if err := b.Delete(k); err != nil {
				return err
			}
			n++
		}
		return nil
	})
	if err != nil {
		return 0, err
	}
	return n, nil
}
