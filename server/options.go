package server

import "time"

// AppOptions adjust OpenApp beyond the configuration; tests use them.
type AppOptions struct {
	// Now is the application's clock; nil is the system clock.
	Now func() time.Time
}

func appOptions(opts []AppOptions) AppOptions {
	var o AppOptions
	for _, x := range opts {
		if x.Now != nil {
			o.Now = x.Now
		}
	}
	return o
}
