"""The customer side DumGum calls: records webhook events, serves profiles and chat history."""

from dumgum_loadtest.receiver.app import create_receiver_app
from dumgum_loadtest.receiver.settings import ReceiverSettings

__all__ = ["ReceiverSettings", "create_receiver_app"]
