package httpapi

// registerMLflowArtifacts registers the MLflow artifacts routes.
func (a *API) registerMLflowArtifacts() {}
