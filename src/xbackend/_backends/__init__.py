"""Namespace adapters for frameworks that array-api-compat does not cover (TensorFlow)."""
