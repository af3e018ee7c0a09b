"""cpis: child-protection flags for England's unscheduled care."""

__version__ = "0.1.0"
