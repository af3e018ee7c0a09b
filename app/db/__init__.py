"""Database access for cpis."""
