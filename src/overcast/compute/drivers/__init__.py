"""The built-in compute drivers, each loaded on first use through the registry."""
