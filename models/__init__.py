"""Model registry and the default model (see issue: transformer sentiment model)."""
