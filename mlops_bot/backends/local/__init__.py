"""Local backends: everything on this machine, under the state directory (default `.mlops/`)."""
