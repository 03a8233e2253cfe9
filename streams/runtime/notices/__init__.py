"""Issue #17 wired to Kafka: CAP intake (gateway and CLI) and the worker's notice flows.

* :mod:`.intake` -- one CAP document in, WeatherNotice records out (the one path for
  ``POST /v1/alerts/cap`` and ``gigbridge alerts import``);
* :mod:`.kafka_edges` -- reading the published notices back, publishing, creating topics;
* :mod:`.flows`, :mod:`.steps`, :mod:`.state` -- the worker's batch loop and Faust timer:
  concerned platforms, measures tracked, overdue notices, algorithm-rule changes routed.

docs/notices.md says what is wired and what is not.
"""
