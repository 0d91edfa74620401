"""Enqueue traffic from a scenario file: ``locust -f locustfiles/enqueue.py --scenario FILE``.

Open the web UI, or add ``--headless``; name ``OpenModelUser`` (open-model scenarios, one user
per worker process) or ``ConversationUser`` (closed-model scenarios, ``arrival.users`` users).
The target is ``--host`` (or ``--target-url``); the token is read from DUMGUM_LOADTEST_TOKEN.
"""

from dumgum_loadtest.loadtest.users import ConversationUser, OpenModelUser

__all__ = ["ConversationUser", "OpenModelUser"]
