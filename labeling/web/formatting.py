"""How the web pages write figures, shared by the pages that show the same figure (the leads' and the expert's own)."""


def per_label_time(seconds: float | None) -> str:
    """42 s, 3 min 05 s."""
    if seconds is None:
        return ""
    seconds = round(seconds)
    return f"{seconds} s" if seconds < 60 else f"{seconds // 60} min {seconds % 60:02d} s"
