"""The router deployment: OpenAI API ingress, auth, validation, routing and dispatch."""
