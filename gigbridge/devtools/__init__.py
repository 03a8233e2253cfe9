"""Development and test stand-ins for the world outside the hub; not product code.

:mod:`gigbridge.devtools.sim_endpoint` plays an insurer's claim endpoint or an office webhook
(with fault switches) for ``gigbridge demo``, ``gigbridge sim-endpoint`` and the tests. The hub
itself never imports anything from here. (The broker for development, ``deploy/kafka/local.py``,
is dev tooling too and lives with the deployment files.)
"""
