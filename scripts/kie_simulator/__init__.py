"""A local KIE (kie.ai) API for tests and the sandbox: `python -m scripts.kie_simulator`.

Public API: KieSimulator (start/stop, knobs as attributes, configure), signature (KIE's webhook
HMAC), ConfigError. Importing this package starts nothing. See docs/KIE_SIMULATOR.md.
"""

from scripts.kie_simulator.callbacks import signature
from scripts.kie_simulator.config import ConfigError
from scripts.kie_simulator.server import KieSimulator

__all__ = ["ConfigError", "KieSimulator", "signature"]
