"""Harvest detection: one user or organisation looking up too many different children."""
