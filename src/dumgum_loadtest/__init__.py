"""dumgum-loadtest: load testing and cost estimation for DumGum's asynchronous API."""

from dumgum_loadtest.errors import ConfigError, HarnessError, SafetyError, TargetError

__version__ = "0.1.0"

__all__ = ["ConfigError", "HarnessError", "SafetyError", "TargetError", "__version__"]
