from pathlib import Path

from django.conf import settings
from django.core.management.base import CommandError
from tqdm import tqdm

from labeling.exceptions import BatchInvalid, RecordError
from labeling.management.base import ProjectCommand
from labeling.models import Project
from labeling.services import records
from labeling.services.ingest import IngestResult, ingest_outputs

MAX_ERRORS_SHOWN = 50


class Command(ProjectCommand):
    help = "Import outputs from a JSONL file (one API record per line), with the API's validation."

    def add_arguments(self, parser):
        super().add_arguments(parser)
        parser.add_argument("file", type=Path, help="JSONL: one output record per line.")

    def handle_project(self, project: Project, *, file: Path, **options):
        if not file.is_file():
            raise CommandError(f"No such file: {file}.")
        # First validate everything, so that a bad line 90,000 does not leave a half import behind.
        errors = [error for batch in self._batches(file, "Checking") for error in self._check(batch)]
        if errors:
            for line, error in errors[:MAX_ERRORS_SHOWN]:
                self.stderr.write(f"line {line}: {error.field or '(record)'}: {error.message}")
            raise CommandError(f"{len(errors)} invalid line(s) in {file}; nothing was imported.")
        total = IngestResult()
        for batch in self._batches(file, "Importing"):
            result = ingest_outputs(project=project, body=_body(batch))
            total.created += result.created
            total.duplicates += result.duplicates
            total.conflicts += result.conflicts
            total.conflict_ids += result.conflict_ids
        self.stdout.write(
            f"Imported {file.name} into {project.slug}: {total.created} created, "
            f"{total.duplicates} duplicates, {total.conflicts} conflicts."
        )
        if total.conflict_ids:
            self.stdout.write("Conflicting ids (stored content kept): " + ", ".join(total.conflict_ids[:20]))

    def _batches(self, file: Path, label: str):
        """Yield lists of (line number, raw line) of at most INGEST_MAX_RECORDS non-blank lines."""
        batch = []
        with (
            file.open("rb") as handle,
            tqdm(
                total=file.stat().st_size, unit="B", unit_scale=True, desc=label, file=self.stderr._out, leave=False
            ) as progress,
        ):
            for number, line in enumerate(handle, start=1):
                progress.update(len(line))
                if line.strip():
                    batch.append((number, line.strip()))
                if len(batch) == settings.INGEST_MAX_RECORDS:
                    yield batch
                    batch = []
        if batch:
            yield batch

    def _check(self, batch):
        try:
            if len(records.decode_batch(_body(batch), records.OUTPUTS)) == len(batch):
                return []
        except BatchInvalid as invalid:
            if all(error.index is not None for error in invalid.errors):
                return [(batch[error.index][0], error) for error in invalid.errors]
        # A line that is not one JSON object spoils the whole body: check the lines one by one.
        return [pair for line in batch for pair in self._check_one(line)]

    def _check_one(self, line):
        try:
            if len(records.decode_batch(_body([line]), records.OUTPUTS)) != 1:
                return [(line[0], RecordError("Each line must hold exactly one JSON object."))]
        except BatchInvalid as invalid:
            return [(line[0], error) for error in invalid.errors]
        return []


def _body(batch) -> bytes:
    # Splice the raw lines into one request body: no parsing here, the service does it.
    return b'{"outputs": [' + b",".join(line for _, line in batch) + b"]}"
