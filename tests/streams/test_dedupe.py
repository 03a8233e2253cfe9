from streams.dedupe import Deduper, is_duplicate

WINDOW = 1000


def test_is_duplicate_window():
    assert not is_duplicate(None, 5000, WINDOW)
    assert is_duplicate(4500, 5000, WINDOW)
    assert not is_duplicate(4000, 5000, WINDOW)  # exactly one window later: new again


def test_deduper_remembers_first_sighting_only():
    store = {}
    d = Deduper(store, WINDOW)
    assert not d.seen_before("e1", 0)
    d.remember("e1", 0)
    assert d.seen_before("e1", 999)
    d.remember("e1", 500)  # a repeat inside the window does not extend it
    assert store["e1"] == 0
    assert not d.seen_before("e1", 1000)
    d.remember("e1", 1000)  # outside the window: a fresh sighting
    assert store["e1"] == 1000 and d.seen_before("e1", 1500)
