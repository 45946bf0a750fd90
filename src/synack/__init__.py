"""synack: a user-space TCP/IP stack in Python."""

__version__ = "0.1.0"
