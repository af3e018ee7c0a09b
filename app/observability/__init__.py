"""Logs, metrics and request ids: everything an operator watches."""
