"""Model hosting: the engine interface, its implementations, the Ray Serve model
deployment and model preparation."""
