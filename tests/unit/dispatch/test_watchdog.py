from llenergymeasure.dispatch.base import Watchdog


def test_total_timeout() -> None:
    dog = Watchdog(timeout_s=10, idle_timeout_s=100, now=0)
    dog.poke(9)
    assert dog.expired(9.5) is None
    assert dog.expired(10.5) == "timeout"


def test_idle_timeout_resets_on_output() -> None:
    dog = Watchdog(timeout_s=100, idle_timeout_s=5, now=0)
    assert dog.expired(4) is None
    dog.poke(4)
    assert dog.expired(8) is None
    assert dog.expired(9.5) == "idle"
