"""Enqueue traffic from a scenario file under plain Locust (README, "Plain Locust")::

    DUMGUM_LOADTEST_TOKEN=... locust -f locustfiles/enqueue.py --scenario FILE
        --run-dir DIR --run-id ID --target-url URL --receiver-url URL [--headless -t 60s]

The scenario picks the user class (``OpenModelUser`` for an open model, ``ConversationUser``
for a closed one: ``dumgum_loadtest.loadtest.users``) and, unless ``-u``/``-r`` say, the user
count. The web UI and the ``--processes`` master listen on 127.0.0.1 unless ``--web-host`` /
``--master-bind-host`` say otherwise. DIR becomes a run directory that ``dumgum-loadtest
report DIR`` reads (``dumgum_loadtest.loadtest.plain``); the receiver runs on its own with
``--out DIR/raw``.
"""

import dumgum_loadtest.loadtest.plain  # noqa: F401  (writes the run directory's own files)
from dumgum_loadtest.loadtest.users import ConversationUser, OpenModelUser

__all__ = ["ConversationUser", "OpenModelUser"]
