"""Attendance-pattern alerts: a flagged child seen too often, or in too many places."""
