"""The HTTP layer: thin routers, dependencies and error rendering."""
