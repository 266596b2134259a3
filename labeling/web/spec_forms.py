"""What the forms that turn typed text into a service's spec share: comma lists, and the service's refusal."""

from django import forms

from labeling.exceptions import InvalidSpec


def comma_list(text: str) -> list[str]:
    """`a, b, , a` → ["a", "b"]: the non-empty parts, stripped, each once, in the order given."""
    seen: dict[str, None] = {}
    for part in (text or "").split(","):
        if part.strip():
            seen.setdefault(part.strip())
    return list(seen)


class SpecForm(forms.Form):
    """A form whose cleaned data a service judges, and which shows the service's refusal."""

    problems_field: str | None = None  # the field the service's problems are shown on; None: the whole form

    def add_problems(self, exc: InvalidSpec) -> None:
        """Show each problem of the service's InvalidSpec (or its message) on the form."""
        for problem in exc.problems or [exc.message]:
            self.add_error(self.problems_field, problem)
