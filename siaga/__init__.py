"""Siaga: edge face-mask counting and the city collector for Semarang."""

__version__ = "0.1.0"
