package authn

import (
	"slices"

	"github.com/gatehouse-sso/gatehouse/policy"
)

// Authentication context class references ("acr") Gatehouse issues and
// understands in acr_values. They are levels: a higher one satisfies a
// lower one.
const (
	// ACRSingleFactor is one factor (a password, an upstream provider, a
	// magic link).
	ACRSingleFactor = "1"
	// ACRMultiFactor is at least two factors of different kinds (see
	// policy.HasSecondFactor): a password and a one-time code, for
	// example.
	ACRMultiFactor = "2"
)

// ACR derives the acr of a sign-in from its amr values.
func ACR(amr []string) string {
	if policy.HasSecondFactor(amr) {
		return ACRMultiFactor
	}
	return ACRSingleFactor
}

// RequiredACR reads acr_values (in the client's order of preference): any
// of the listed known values is acceptable, so the requirement is the
// lowest known one. Unknown values are ignored; "" means no requirement.
func RequiredACR(values []string) string {
	best := ""
	for _, v := range values {
		if known(v) && (best == "" || v < best) {
			best = v
		}
	}
	return best
}

// Satisfies reports whether an acr achieved meets a requirement ("" is
// met by anything).
func Satisfies(achieved, required string) bool {
	if required == "" {
		return true
	}
	return known(achieved) && achieved >= required
}

func known(v string) bool {
	return slices.Contains([]string{ACRSingleFactor, ACRMultiFactor}, v)
}
