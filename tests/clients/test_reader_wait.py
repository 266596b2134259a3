"""The Python client waits out a download's 503 while the server's worker prepares the file (Parquet, hf), honouring
Retry-After, and gives up with a clear error after its limit."""

import httpx
import pytest
from expertloop_client import StillPreparing, _reader


class FakeClock:
    """time.monotonic and time.sleep for the reader: sleeping moves the clock, and is recorded."""

    def __init__(self):
        self.now, self.slept = 0.0, []

    def monotonic(self) -> float:
        return self.now

    def sleep(self, seconds: float) -> None:
        self.slept.append(seconds)
        self.now += seconds


@pytest.fixture
def clock(monkeypatch):
    fake = FakeClock()
    monkeypatch.setattr(_reader, "time", fake)
    return fake


def reader(answers: list[httpx.Response]) -> _reader.Reader:
    def handler(request: httpx.Request) -> httpx.Response:
        return answers.pop(0) if len(answers) > 1 else answers[0]

    return _reader.Reader(url="http://server", headers={}, timeout=5, transport=httpx.MockTransport(handler))


PREPARING = httpx.Response(  # as the server answers: naming the version whose file is being made
    503,
    headers={"Retry-After": "5", "X-Dataset-Version": "1"},
    json={"errors": [{"message": "The parquet file is being prepared."}]},
)


def test_a_download_waits_while_the_file_is_prepared_then_reads_it(clock):
    answers = [PREPARING, PREPARING, PREPARING, httpx.Response(200, content=b"PAR1...PAR1")]

    with reader(answers).stream("/download", prepare_wait=600) as response:
        assert response.read() == b"PAR1...PAR1"

    assert clock.slept == [5, 5, 5]


def test_it_gives_up_after_its_limit_with_an_error_that_says_so(clock):
    with pytest.raises(StillPreparing, match="still preparing the file after 600 s") as raised:
        with reader([PREPARING]).stream("/download", prepare_wait=600):
            pass

    assert raised.value.status == 503
    assert sum(clock.slept) <= 600 and len(clock.slept) == 120


def test_other_reads_do_not_wait_for_long(clock):
    with pytest.raises(Exception) as raised:
        with reader([PREPARING]).stream("/download"):
            pass

    assert not isinstance(raised.value, StillPreparing) and raised.value.status == 503
    assert len(clock.slept) == _reader.READ_ATTEMPTS - 1
