"""Load generation with Locust: the only code that imports locust (and gevent).

Locust patches the process with gevent when imported, so the modules that need it (``users``,
``openloop``, ``closed``, ``worker``, ``options``, ``recorder``, ``transport``, ``timing``,
``locustfile``) run only in Locust's own processes. ``command`` (the command line the
orchestrator runs), ``counters`` (the progress file), ``settings`` (option resolution) and
``sends`` (the request record) import neither and can be imported anywhere.
"""
