"""The office web console (issue #18): server-rendered pages for handling units, signed in per unit.

``python -m connectors.console`` serves it; :mod:`connectors.console.data` is its read model.
"""
