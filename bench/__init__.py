"""The cpis benchmark suite: the service against a raw ceiling, measured in the same run.

Not part of the service package (``app``): it drives the service from outside, through
real HTTP, the way a registration desk does. ``make bench`` runs it; ``make bench-smoke``
runs the same code on a small dataset so CI keeps it working.
"""
