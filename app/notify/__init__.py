"""Notifications to local authorities."""
