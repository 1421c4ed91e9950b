package api

// RecoveryService is what the API needs for this feature (to be filled in).
type RecoveryService interface{}

// recoveryRoutes lists this feature's endpoints.
func (a *API) recoveryRoutes() []Route { return nil }
