// Package authn signs people in: a sign-in transaction and one dispatcher
// that decides its next step, and the small interfaces that sign-in
// methods and second factors implement.
//
// A sign-in goes: choose a method (the sign-in page: the password form
// and one button per redirect method) → the method identifies the user →
// when the transaction requires more than the methods used so far proved
// (an acr of "2"), a factor page asks for a second factor → done: a new
// session is started, or, when the browser's own session was being
// stepped up, the factor is added to that session → the browser goes to
// the transaction's return target.
//
// The transaction (Txn) is kept only in memory while a step needs nothing
// more (a password sign-in without a second factor is one request); it is
// stored, with a TTL, as soon as a step leaves the page (a redirect method,
// a factor), keyed by a random id, bound to the browser by a cookie and to
// the step that may continue it, and taken atomically when it completes,
// so it cannot be replayed or finished twice. No user-facing step is shown
// for a transaction begun with prompt=none.
//
// Methods are values passed in one list (Options.Methods); the dispatcher
// finds what each can do by type assertion: Password (a login name and a
// password), Redirect (a start URL and a callback: upstream providers,
// magic links, inbound bridges) and Factor (a challenge and its answer:
// TOTP, e-mail codes, security keys). A new method is one package
// implementing one of them and one entry in that list. A method must not
// reach into another method or into the session: it returns an Identity
// and the dispatcher does the rest.
package authn
