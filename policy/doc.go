// Package policy decides whether a request to a protected app may go
// through: it compiles an ordered list of rules into an index and answers
// allow, deny, sign in first, or sign in again, with the reason. It also
// owns request-path normalisation, so the path the policy judges is the
// path the proxy forwards.
//
// The package does no I/O and depends on no other Gatehouse package: the
// caller converts its configuration into [Rule] values, its request into a
// [Request] and its session or bearer token into a [Subject].
//
// # Rules
//
// A [Rule] has match fields — Hosts, PathPrefix or PathRegex, Methods,
// Networks; an empty one matches everything — and a [Decision]: public,
// deny, or authenticated with requirements (Users, GroupsAny, GroupsAll,
// EmailDomains, Scopes, SecondFactor, MaxSessionAge). Rules are tried in
// order; the first whose match fields all match decides, and a request no
// rule matches is denied. Requirements are not match fields: a subject
// that fails them is refused by that rule, never handed to a later, more
// lenient one. Users, GroupsAny and EmailDomains are alternatives (one
// of the users, or in one of the groups, or a verified address in one of
// the domains); GroupsAll, Scopes, SecondFactor and MaxSessionAge must
// each hold in addition. So "admins or alice" is one rule, and "admins
// with an example.com address" is GroupsAll plus EmailDomains.
//
// Matching, in short:
//
//   - hosts: exact, or "*.example.com" for one or more labels before
//     example.com (not example.com itself); case-insensitive; the port
//     and a trailing dot of the request's host are ignored;
//   - paths: case-sensitive. A prefix matches at a segment boundary
//     ("/admin" matches "/admin", "/admin/x", not "/administrator"; "/admin/"
//     matches only beneath). A regex is anchored to the whole path. Both see
//     the normalised path without matrix parameters (";jsessionid=..."),
//     since servlet containers route without them. For an upstream that
//     treats paths case-insensitively, write a regex with (?i);
//   - methods: case-insensitive;
//   - networks: the client address must be in one of the CIDR prefixes;
//     IPv4-mapped IPv6 addresses count as IPv4.
//
// # Outcomes
//
// [Policy.Decide] returns an [Outcome]: [Allow], [Deny], [NeedLogin] (an
// authenticated rule and an anonymous subject) or [Reauthenticate] (the
// identity requirements hold but the sign-in lacks a second factor or is
// older than MaxSessionAge; see [HasSecondFactor]). Identity requirements
// are checked first, so a user who would be refused anyway is not asked to
// step up. The Outcome names the deciding rule by index (-1 for the
// default deny) and carries a reason that contains no user data.
//
// # Index
//
// [Compile] validates every rule, reports each problem with the rule's
// index and field ([RuleError]), rejects unreachable rules, and files the
// rules by host (exact names in a map, wildcards by suffix, a bucket for
// rules without hosts) and then by path (a trie of segments for prefixes,
// an ordered list for regular expressions). A decision visits only the
// buckets of its host and the trie nodes along its path and keeps the
// lowest-numbered matching rule, so it costs about the same with 10 rules
// or 10,000; rules without hosts that use PathRegex are the exception —
// every request tries each of them. Decide does not allocate, and a
// [Policy] is immutable, so it is safe for concurrent use; a reload
// compiles a new one and swaps it in.
//
// [Policy.Explain] makes the same decision by trying every rule in order,
// and says why each rule did or did not match; it backs "gatehouse policy
// explain" and is the reference the index is tested against.
//
// # Paths
//
// [NormalizePath] turns the escaped request path into the canonical form
// that both the policy and the upstream see: unreserved characters
// decoded ("%2e" is "."), dot segments and duplicate slashes resolved,
// everything else consistently encoded. It refuses, rather than guesses
// about, what upstreams disagree on: encoded slashes and backslashes,
// double encoding, invalid escapes, control characters and overlong UTF-8.
// Decide denies a path that is not in canonical form.
package policy
