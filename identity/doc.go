// Package identity holds Gatehouse's users: who they are, how their
// passwords are hashed, and how a login and password become a User.
//
// Users come from two sources. Config users are defined in the
// configuration file, converted to [User] values by the caller and held
// read-only in memory. Store users are provisioned at run time through
// [Directory.Create] and persisted in a [store.Store] under the
// "identity/" key prefix; their ids, usernames and e-mail addresses are
// reserved with [store.Store.Create], so uniqueness holds across
// concurrent callers and replicas. A store user may not take an id,
// username or e-mail address that belongs to a config user. Deleted store
// users leave a tombstone, so their ids (which become OIDC subjects) are
// never reused for another person, while their usernames and e-mail
// addresses become free again.
//
// Passwords are hashed with argon2id and stored as PHC strings
// ("$argon2id$v=19$m=...,t=...,p=...$salt$key"). [Hasher] verifies a hash
// with the parameters recorded in it, so old hashes keep working after the
// configured parameters change, refuses stored parameters that would cost
// absurd memory or time, and caps how many hashes are computed at once so
// a burst of sign-ins cannot exhaust memory.
//
// [Directory.Authenticate] does the same argon2 work whether the login is
// unknown, the user has no password, the password is wrong, or the user is
// disabled, so response times do not reveal which accounts exist.
//
// The package does not speak HTTP and does not read configuration.
package identity
