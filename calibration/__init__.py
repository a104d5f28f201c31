"""Siaga calibration package."""
