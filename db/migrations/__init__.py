"""The schema, shipped inside the package as `hub._migrations` (see hub/resources.py)."""
