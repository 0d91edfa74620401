"""Load generation with Locust: the only code that imports locust (and gevent).

Locust patches the process with gevent when imported, so only ``users``, ``openloop``,
``recorder``, ``options``, ``worker`` and ``locustfile`` import it, and they run in Locust's own
processes. ``command`` (the command line the orchestrator runs) and ``counters`` (the progress
file's contents) stay free of it and can be imported anywhere.
"""
