"""The generator's Locust entry point, shipped inside the package.

``locust -f <this file> --scenario FILE ... OpenModelUser|ConversationUser``; see
``dumgum_loadtest.loadtest.command`` for the exact command line a run uses.
"""

from dumgum_loadtest.loadtest.users import ConversationUser, OpenModelUser

__all__ = ["ConversationUser", "OpenModelUser"]
