"""Retention: plans are deleted once past their visibility; the audit trail never is."""
