"""asyncio over synack: the standard streams and protocols, on any ``AsyncDriver``.

``open_connection`` and ``start_server`` hand out the standard ``asyncio.StreamReader``
and ``asyncio.StreamWriter``, so unchanged asyncio code runs over a synack stack; on the
simulated network, ``synack.asyncio.simloop`` runs it in virtual time.
"""

from synack.asyncio.client import create_connection, open_connection
from synack.asyncio.server import SynackServer, create_server, start_server
from synack.asyncio.transport import SynackTransport

__all__ = [
    "SynackServer",
    "SynackTransport",
    "create_connection",
    "create_server",
    "open_connection",
    "start_server",
]
