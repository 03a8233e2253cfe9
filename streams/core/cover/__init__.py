"""Occupational-injury cover (职业伤害保障, issue #20): the pure core.

* :mod:`.cst` -- China Standard Time service dates;
* :mod:`.rates` -- the premium rate table (``deploy/cover-rates.yaml``), append-only versions;
* :mod:`.orders` -- validation of ``OrderCover`` records (``premium_mismatch`` and the usual rules);
* :mod:`.daycover` -- cover by the day and premium statements, a state machine over plain data;
* :mod:`.gaps` -- "every order insured": insured incidents without matching cover;
* :mod:`.claims` -- the claim-status lifecycle;
* :mod:`.workdays` -- working days with the State Council holiday calendar.
"""
