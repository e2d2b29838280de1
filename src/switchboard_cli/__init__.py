"""The `switchboard` command: run the platform on one machine, the simulator, and tools."""
