"""Training scripts for the models Siaga ships (need the optional `train` extra: torch)."""
