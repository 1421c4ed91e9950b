package api

// SettingsService is what the API needs for this feature (to be filled in).
type SettingsService interface{}

// settingsRoutes lists this feature's endpoints.
func (a *API) settingsRoutes() []Route { return nil }
