"""Event Grid and CloudEvents deliveries: parsing, handshakes, and what each event asks for.

The package's public names are those of amlguard.events.parse, listed once, in its `__all__`.
"""

from amlguard.events.parse import *  # noqa: F403
from amlguard.events.parse import __all__ as __all__
