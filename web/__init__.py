"""The pages, shipped inside the package as `hub._web` (see hub/resources.py)."""
