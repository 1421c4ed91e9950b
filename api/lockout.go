package api

// LockoutService is what the API needs for this feature (to be filled in).
type LockoutService interface{}

// lockoutRoutes lists this feature's endpoints.
func (a *API) lockoutRoutes() []Route { return nil }
