from prometheus_client import CollectorRegistry, generate_latest

from streams.runtime.domain import DomainCollector, DomainState


def site(n, action="OPENED", code="310101002000", site_type="DELIVERY_STATION"):
    return {"platform_id": "p", "site_id": f"s{n}", "action": action, "division_code": code, "site_type": site_type}


def scrape(state, k=5):
    registry = CollectorRegistry()
    registry.register(DomainCollector(state, k))
    return generate_latest(registry).decode()


def test_sites_open_and_closed():
    state = DomainState()
    for n in range(6):
        state.apply("sites", site(n))
    state.apply("sites", site(0, action="CLOSED"))
    state.apply("sites", site(1, action="UPDATED"))
    assert state.sites_open() == {("310101", "DELIVERY_STATION"): 5}
    assert 'gigbridge_sites_open{county="310101",site_type="DELIVERY_STATION"} 5.0' in scrape(state)


def test_small_cells_are_never_published():
    state = DomainState()
    for n in range(4):
        state.apply("sites", site(n, code="440305000000"))
    state.apply("headcounts", {"platform_id": "p", "site_id": "s1", "division_code": "440305000000",
                               "active_workers": 3, "insured_workers": 2})
    for _ in range(4):
        state.apply("incidents", {"division_code": "440305000000", "category": "FALL", "severity": "FATAL", "weather": "RAIN"})
    text = scrape(state)
    assert "440305" not in text and 'province="44"' not in text
    state.apply("incidents", {"division_code": "440305000000", "category": "FALL", "severity": "FATAL", "weather": "RAIN"})
    assert 'gigbridge_incidents_total{category="FALL",province="44",severity="FATAL",weather="RAIN"} 5.0' in scrape(state)


def test_latest_headcount_per_site_counts():
    state = DomainState()
    for active in (10, 40):  # the second report replaces the first
        state.apply("headcounts", {"platform_id": "p", "site_id": "s1", "division_code": "310101002000",
                                   "active_workers": active, "insured_workers": active - 5})
    state.apply("headcounts", {"platform_id": "p", "site_id": "s2", "division_code": "310101003000",
                               "active_workers": 7, "insured_workers": 7})
    active, insured = state.workers()
    assert active == {"310101": 47} and insured == {"310101": 42}
