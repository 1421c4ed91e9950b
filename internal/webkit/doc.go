// Package webkit holds the request plumbing that the tenant web UI
// (package web) and the operator console (package opsweb) share: language
// negotiation, CSRF tokens and origin checks, form parsing and rendering a
// page to a buffer.
//
// The two UIs are separate sign-in realms: an operator's cookie must never
// be accepted by the tenant UI, nor a tenant user's by the console. So
// nothing here names a cookie or a key of its own; every function that
// touches one takes its name (or its derivation label) as a parameter,
// and each package keeps its own constants.
package webkit
