package httpapi

// registerMLflowTracking registers the MLflow tracking routes.
func (a *API) registerMLflowTracking() {}
