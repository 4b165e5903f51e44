package httpapi

// registerMLflowRegistry registers the MLflow registry routes.
func (a *API) registerMLflowRegistry() {}
