"""The load generator: simulated scanners over real websockets against real hubs (see README.md)."""
