"""Deterministic synthetic AI outputs for the benchmarks (BENCHMARKS.md, "The record").

Record `i` depends on `i` alone (a splitmix64 hash of `i` and a fixed word stream), so every benchmark,
every run and every machine sees the same records: about 1 KB of JSON each, a prompt of 25–45 words, a
response of 100–180 words, an `end_user_id` among 50,000, a `feature` among 8 in `metadata`,
`external_id` = str(i), `occurred_at` within 12 weeks from Monday 2026-01-05 (UTC); one input in four
is a chat transcript. 100,000 records are about 109 MB of JSON; ~15 µs a record to generate.

    import records                        # bench/ is on sys.path when you run bench/<script>.py
    records.record(7)                     # one record as a dict
    records.record_json(7)                # the same, as compact JSON bytes
    records.batch_bodies(100_000, 1_000)  # request bodies b'{"outputs":[...]}' for POST /api/v1/outputs
    records.jsonl(100_000)                # one JSON document per record, for COPY / JSONL files

Pure standard library (json; msgspec when installed, only for speed): usable from any virtualenv.
"""

from __future__ import annotations

import random
from collections.abc import Iterator
from datetime import UTC, datetime, timedelta

try:  # about 3x faster than json.dumps; the bytes are the same compact JSON
    import msgspec

    _dumps = msgspec.json.Encoder().encode
except ImportError:  # pragma: no cover
    import json

    def _dumps(value) -> bytes:
        return json.dumps(value, separators=(",", ":"), ensure_ascii=False).encode()


FEATURES = ("search", "summarize", "code-assist", "support-chat", "translate", "sql-gen", "email-draft", "qa")
END_USERS = 50_000
MODELS = ("gpt-4o-mini", "gpt-4.1", "claude-sonnet-4", "llama-3.1-70b")
TAGS = ("prod", "beta", "eu", "us", "mobile", "web", "long-context", "retry")
# Outputs occur over 12 weeks from this Monday (W4 closes weeks on this calendar).
START = datetime(2026, 1, 5, tzinfo=UTC)
SPAN_SECONDS = 12 * 7 * 86_400
PROMPT_WORDS = (25, 45)
RESPONSE_WORDS = (100, 180)

# 256 everyday words, mostly short as in real text: with the space they average ~4.7 bytes, which
# sets the record size to ~1.08 KB (100,000 records: ~108 MB).
WORDS = tuple(
    """
    a an the of to in on at by for with from as is are was be been it its this that these those and
    or but not no so if then than too very all any some each one two few many more most less much
    such own same new old big small long short good bad best last next first other only just also
    now here there when where why how what who which you we they us them my your our
    can will may must should could would do does did done has have had get got make made use used
    see show find give take send keep let put set run try ask say tell know need want like help
    work fix add cut sort read write list file page line word text data user team plan task item
    code test bug log key row table query field value type name date time day week year hour rate
    cost price order email reply note call meet chat post link app web api sql job step part case
    way end top low high fast slow easy hard open free full sure true yes well kind lot bit off out
    up down over into back away again still even ever yet soon via today please thanks sorry hello
    answer report error issue model prompt output input label score review update change create
    delete search result refund number am go ok per due fit map min max sum avg id db vs box tab gap
    """.split()
)
assert len(WORDS) == 256 and len(set(WORDS)) == 256, len(WORDS)
# A fixed stream of words drawn once; a record's prompt and response are slices of it at offsets
# hashed from the index. Slicing is ~20x faster than drawing words one by one.
_CORPUS = tuple(random.Random(20260105).choices(WORDS, k=1 << 18))
_MASK = (1 << 64) - 1


def _mix(x: int) -> int:
    """splitmix64: a cheap, well-spread 64-bit hash of an integer."""
    x = (x + 0x9E3779B97F4A7C15) & _MASK
    x = ((x ^ (x >> 30)) * 0xBF58476D1CE4E5B9) & _MASK
    x = ((x ^ (x >> 27)) * 0x94D049BB133111EB) & _MASK
    return x ^ (x >> 31)


def _text(offset: int, count: int) -> str:
    offset %= len(_CORPUS) - count
    text = " ".join(_CORPUS[offset : offset + count])
    return text[0].upper() + text[1:] + "."


def record(index: int) -> dict:
    """Record `index` as a dict, ready for `POST /api/v1/outputs`."""
    h1, h2, h3 = _mix(3 * index), _mix(3 * index + 1), _mix(3 * index + 2)
    h1, feature = divmod(h1, len(FEATURES))
    h1, user = divmod(h1, END_USERS)
    h1, prompt_words = divmod(h1, PROMPT_WORDS[1] - PROMPT_WORDS[0] + 1)
    h1, response_words = divmod(h1, RESPONSE_WORDS[1] - RESPONSE_WORDS[0] + 1)
    h1, model = divmod(h1, len(MODELS))
    h1, chat = divmod(h1, 4)
    h1, session = divmod(h1, 100)
    h2, second = divmod(h2, SPAN_SECONDS)
    h2, millis = divmod(h2, 1000)
    h2, latency = divmod(h2, 3920)
    h2, tokens = divmod(h2, 850)
    h2, tag_a = divmod(h2, len(TAGS))
    h2, tag_b = divmod(h2, len(TAGS) + 1)  # the last value: no second tag
    prompt = _text(h3 & 0xFFFFFFFF, PROMPT_WORDS[0] + prompt_words)
    response = _text(h3 >> 32, RESPONSE_WORDS[0] + response_words)
    tags = sorted({TAGS[tag_a], TAGS[tag_b]}) if tag_b < len(TAGS) else [TAGS[tag_a]]
    occurred = START + timedelta(seconds=second, milliseconds=millis)
    return {
        "external_id": str(index),
        # One record in four is a chat transcript rather than a bare prompt.
        "input": [{"role": "user", "content": prompt}] if chat == 0 else prompt,
        "output": response,
        "model": MODELS[model],
        "end_user_id": f"user-{user}",
        "session_id": f"s-{user}-{session}",
        "metadata": {"feature": FEATURES[feature], "latency_ms": 80 + latency, "tokens": 50 + tokens},
        "tags": tags,
        "occurred_at": occurred.isoformat(timespec="milliseconds"),
    }


def record_json(index: int) -> bytes:
    """Record `index` as compact JSON (UTF-8, no newline)."""
    return _dumps(record(index))


def batch_body(start: int, stop: int) -> bytes:
    """The request body `{"outputs": [record(start), …, record(stop - 1)]}`."""
    return b'{"outputs":[' + b",".join(record_json(i) for i in range(start, stop)) + b"]}"


def batch_bodies(count: int, size: int = 1_000, first: int = 0) -> list[bytes]:
    """Request bodies for records first … first+count-1, `size` records each (the last may be shorter)."""
    return [batch_body(start, min(start + size, first + count)) for start in range(first, first + count, size)]


def jsonl(count: int, first: int = 0) -> Iterator[bytes]:
    """Records as JSON lines (each ending in a newline)."""
    for index in range(first, first + count):
        yield record_json(index) + b"\n"


def main() -> None:
    import argparse
    import sys

    parser = argparse.ArgumentParser(description="Write N benchmark records as JSONL to stdout.")
    parser.add_argument("--records", type=int, default=100_000)
    parser.add_argument("--first", type=int, default=0)
    args = parser.parse_args()
    out = sys.stdout.buffer
    for line in jsonl(args.records, args.first):
        out.write(line)


if __name__ == "__main__":
    main()
