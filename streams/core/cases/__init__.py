"""Concern cases of gig workers (issue #16): the pure core.

* :mod:`.units` -- handling units and deadlines (``deploy/units.yaml``), routing with the
  county-government fallback;
* :mod:`.records` -- validation of ``ConcernCase`` / ``CaseEvent`` / ``IncidentAck`` dicts;
* :mod:`.lifecycle` -- the case state machine (permissions, deadlines, first-receiver-leads);
* :mod:`.acks` -- the small incident-acknowledgement machine;
* :mod:`.measures` -- per county and unit rates with small-cell suppression.

docs/cases.md describes the contracts and the rules.
"""
