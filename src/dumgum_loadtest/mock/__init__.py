"""A faithful, fast mock of DumGum's asynchronous content-creation API."""

from dumgum_loadtest.mock.app import ENQUEUE_PATH, create_mock_app
from dumgum_loadtest.mock.auth import DEFAULT_TOKEN, project_id_for
from dumgum_loadtest.mock.config import MockConfig, load_mock_config
from dumgum_loadtest.mock.settings import MockSettings

__all__ = [
    "DEFAULT_TOKEN",
    "ENQUEUE_PATH",
    "MockConfig",
    "MockSettings",
    "create_mock_app",
    "load_mock_config",
    "project_id_for",
]
