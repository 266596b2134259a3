"""How the web pages write figures, shared by the pages that show the same figure (the leads' and the expert's own).
A count itself is written by `rules.text.figure` (thousands grouped), which services' messages use too."""

from datetime import datetime


def per_label_time(seconds: float | None) -> str:
    """42 s, 3 min 05 s."""
    if seconds is None:
        return ""
    seconds = round(seconds)
    return f"{seconds} s" if seconds < 60 else f"{seconds // 60} min {seconds % 60:02d} s"


def local_time(moment: datetime | None, with_seconds: bool = False) -> str:
    """A moment as the pages write it in the zone it is given in, "2026-11-01 01:30"; with its UTC offset,
    "2026-11-01 01:30 UTC−07:00", when that local time occurs twice (the hour clocks go back), so two moments never
    read alike. The page says its zone once ("Times in the project's time zone, …", labeling/_times_zone.html)."""
    if moment is None:
        return ""
    text = moment.strftime("%Y-%m-%d %H:%M:%S" if with_seconds else "%Y-%m-%d %H:%M")
    offset = moment.utcoffset()
    if offset is None or moment.replace(fold=1 - moment.fold).utcoffset() == offset:
        return text
    minutes = int(offset.total_seconds()) // 60
    sign = "+" if minutes >= 0 else "−"
    return f"{text} UTC{sign}{abs(minutes) // 60:02d}:{abs(minutes) % 60:02d}"


def moment_in_words(moment: datetime, zone) -> str:
    """A moment in a zone for a sentence that names the zone itself (no page note beside it): "7 Dec 2026, 22:47 CET
    (Europe/Paris)"; the zone once when its abbreviation is its name, "7 Dec 2026, 22:47 UTC"."""
    local = moment.astimezone(zone)
    abbreviation, name = local.strftime("%Z"), str(zone)
    return f"{local:%-d %b %Y, %H:%M} {abbreviation}" + ("" if abbreviation == name else f" ({name})")
