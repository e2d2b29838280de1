"""The in-process phone-number index."""

from switchboard_tickets.phone_index import PhoneIndex


def test_numbers_are_kept_per_tenant() -> None:
    index = PhoneIndex()
    loaded = index.load([("acme", "+33142685300", "c1"), ("globex", "+33142685300", "c9")])
    assert loaded == 2
    assert len(index) == 2
    assert index.get("acme", "+33142685300") == "c1"
    assert index.get("globex", "+33142685300") == "c9"
    assert index.get("initech", "+33142685300") is None
    assert index.get("acme", "+442079460958") is None


def test_apply_sets_and_forgets_owners() -> None:
    index = PhoneIndex()
    index.load([("acme", "+33142685300", "c1"), ("acme", "+442079460958", "c1")])
    index.apply("acme", ["+33142685300", "+442079460958"], {"+33142685300": "c2"})
    assert index.get("acme", "+33142685300") == "c2"
    assert index.get("acme", "+442079460958") is None
    index.forget("acme", "+33142685300")
    index.forget("nobody", "+33142685300")
    assert len(index) == 0


def test_clear_resets_the_warm_flag() -> None:
    index = PhoneIndex()
    index.load([("acme", "+33142685300", "c1")])
    index.warmed = True
    index.clear()
    assert not index.warmed
    assert index.get("acme", "+33142685300") is None
