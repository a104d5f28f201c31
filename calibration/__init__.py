"""Siaga calibration: technician tools that check, fit and write per-camera calibration files."""
