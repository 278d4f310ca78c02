"""qxub's engine: job specs, job scripts, status files, scheduler adapters and the monitor."""

__version__ = "0.1.0"
