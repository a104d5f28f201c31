"""Siaga agent package."""
