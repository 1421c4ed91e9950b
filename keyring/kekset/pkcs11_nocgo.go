//go:build !cgo

package kekset

import "errors"

// errNoCgo: crypto11 loads the PKCS#11 module through cgo.
var errNoCgo = errors.New("kekset: the pkcs11 KEK provider needs Haven built with cgo (CGO_ENABLED=1) and a PKCS#11 module; this binary was built without cgo")

func openPKCS11Platform(*Set, PKCS11) error { return errNoCgo }

func newPKCS11Tenants(PKCS11) (tenantOpener, error) { return nil, errNoCgo }
