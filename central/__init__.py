"""Siaga central package."""
