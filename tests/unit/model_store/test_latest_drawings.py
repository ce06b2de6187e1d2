from model_store.latest_drawings import LatestDrawings


def test_the_sessions_heard_from_least_recently_go_first():
    latest = LatestDrawings(capacity=2)
    for token, picture in (("a", b"1"), ("b", b"2"), ("a", b"3"), ("c", b"4")):
        latest.put(token, picture)
    assert (latest.get("a"), latest.get("b"), latest.get("c")) == (b"3", None, b"4")
    latest.drop("a")
    latest.drop("a")  # dropping what is not there is no error
    assert latest.get("a") is None
