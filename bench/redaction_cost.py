"""What redaction at ingest costs: one 1,000-record batch through `ingest_outputs`, with and without rules.

    .venv/bin/python bench/redaction_cost.py                # ~1 min: fresh database, 4 configurations × 7 runs
    .venv/bin/python bench/redaction_cost.py --runs 3 --keep-db

For each configuration the outputs table is emptied, then the same 1,000-record batch (bench/records.py,
~1 KB of JSON each) is ingested in-process through the service, timed from the JSON body to the commit;
the figure is the median. "engine only" times the redaction of the batch's values without the database.
Routing tasks are published to Redis (db 13, flushed before and after), never run inline.
"""

import argparse
import statistics
import time
from collections import Counter

from harness.database import add_database_options, measure_in_process

PII = " Reach me at jane.doe{i}@example.com or 415-555-01{i2:02d}; card 4111 1111 1111 1111."


def main() -> None:
    parser = argparse.ArgumentParser(description=__doc__, formatter_class=argparse.RawDescriptionHelpFormatter)
    parser.add_argument("--records", type=int, default=1000)
    parser.add_argument("--runs", type=int, default=7)
    add_database_options(parser, database="expertloop_bench_redaction", redis_url="redis://127.0.0.1:6379/13")
    args = parser.parse_args()

    measure_in_process(args, measure, ALLOWED_HOSTS="localhost")


def measure(args) -> None:
    """Each configuration's batch through the service, then the redaction engine alone."""
    import msgspec
    import records

    from labeling.models import Output, Project
    from labeling.services.ingest import ingest_outputs
    from labeling.services.redaction import redactor_for, save_rule_set

    plain = [records.record(i) for i in range(args.records)]
    with_pii = [{**record, "output": record["output"] + PII.format(i=i, i2=i % 100)} for i, record in enumerate(plain)]
    bodies = {name: msgspec.json.encode({"outputs": batch}) for name, batch in (("plain", plain), ("pii", with_pii))}
    custom = [{"name": "account", "pattern": r"\bACCT-\d{6}\b"}, {"name": "ticket", "pattern": r"\bTCK-\d+\b"}]
    builtins = {"builtins": ["email", "phone", "card", "iban"]}
    configurations = [
        ("no rules", "plain", None),
        ("built-ins, no personal data in the text", "plain", builtins),
        ("built-ins, personal data in every record", "pii", builtins),
        ("built-ins + 2 custom, personal data in every record", "pii", {**builtins, "custom": custom}),
    ]
    print(f"{args.records:,}-record batch, median of {args.runs} runs")
    for index, (label, body_name, rules) in enumerate(configurations):
        project = Project.objects.create(slug=f"bench-redaction-{index}", name=label)
        if rules:
            save_rule_set(
                project=project, custom=rules.get("custom", []), phone_region="US", builtins=rules["builtins"]
            )
        times = []
        for _ in range(args.runs):
            Output.objects.filter(project=project).delete()
            started = time.perf_counter()
            result = ingest_outputs(project=project, body=bodies[body_name])
            times.append((time.perf_counter() - started) * 1000)
            assert result.created == args.records, result
        engine = ""
        redactor = redactor_for(project)
        if redactor:
            batch = plain if body_name == "plain" else with_pii
            engine_times = []
            for _ in range(args.runs):
                started = time.perf_counter()
                counts = Counter()
                for record in batch:
                    for name in ("input", "output", "metadata"):
                        redactor.redact_value(record[name], counts)
                engine_times.append((time.perf_counter() - started) * 1000)
            engine = f"  engine only {statistics.median(engine_times):6.1f} ms (min {min(engine_times):6.1f})"
        print(f"  {label:<55} {statistics.median(times):7.1f} ms (min {min(times):6.1f}){engine}")


if __name__ == "__main__":
    main()
