"""Weather warnings, protection measures, algorithm-rule changes (issue #17): the pure core.

* :mod:`.cap` -- CAP 1.2 documents in: safe parsing, XSD validation, a plain :class:`~.cap.Notice`;
* :mod:`.levels` -- warning types, colour levels, geocodes to division codes, area containment;
* :mod:`.registry` -- Alert/Update/Cancel applied to the notices, WeatherNotice records out;
* :mod:`.tracking` -- concerned platforms, answers and overdue notices, measure validation;
* :mod:`.injuries` -- incidents linked to notices, injuries per 10,000 active workers;
* :mod:`.rule_changes` -- validation of AlgorithmRuleChange records.

docs/notices.md describes the flows and what is not wired yet.
"""
