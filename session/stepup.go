package session

import (
	"context"
	"errors"
	"fmt"
	"net/http"
	"slices"
)

// ErrSessionChanged is returned by StepUp when the request's session is
// not the one the step-up was begun for (signed out, replaced, another
// user).
var ErrSessionChanged = errors.New("session changed during step-up")

// StepUp adds authentication methods (amr values, such as a second
// factor's "otp") to the request's live session, which must still be
// session sid of userID. The session keeps its id, cookie, sign-in time
// and everything keyed to it (grants, app sessions): it was the same
// person, who has now proved more. It returns the updated record.
func (m *Manager) StepUp(ctx context.Context, r *http.Request, sid, userID string, amr []string) (Record, error) {
	rec, err := m.Load(ctx, r)
	if errors.Is(err, ErrNoSession) {
		return Record{}, ErrSessionChanged
	}
	if err != nil {
		return Record{}, fmt.Errorf("step up session: %w", err)
	}
	if sid == "" || rec.SID != sid || rec.UserID != userID {
		return Record{}, ErrSessionChanged
	}
	added := slices.Clone(rec.AMR)
	for _, a := range amr {
		if !slices.Contains(added, a) {
			added = append(added, a)
		}
	}
	rec.AMR = added
	rec.LastSeen = m.now()
	if err := m.save(ctx, rec); err != nil {
		return Record{}, fmt.Errorf("step up session: %w", err)
	}
	return rec, nil
}
