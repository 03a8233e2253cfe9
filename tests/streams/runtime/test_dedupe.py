from streams.runtime.dedupe.window import is_duplicate

WINDOW = 1000


def test_is_duplicate_window():
    assert not is_duplicate(None, 5000, WINDOW)
    assert is_duplicate(4500, 5000, WINDOW)
    assert not is_duplicate(4000, 5000, WINDOW)  # exactly one window later: new again
