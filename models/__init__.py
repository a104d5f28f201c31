"""Siaga detection core: model registry, adapters, evaluation and training."""
