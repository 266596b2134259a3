"""Text colours in the stylesheets against the backgrounds they are shown on: at least 4.5:1 (WCAG 1.4.3, normal
text). Computed from the CSS files themselves, so a colour changed in one of them is checked against the others."""

import re
from pathlib import Path

import pytest

CSS_DIR = Path(__file__).resolve().parents[3] / "labeling" / "static" / "labeling"


def css(name: str) -> str:
    return (CSS_DIR / name).read_text()


def custom_property(name: str, *files: str) -> list[str]:
    """Every value the stylesheets give a custom property (a colour), in the files named or in all of them."""
    texts = [css(file) for file in files] if files else [path.read_text() for path in sorted(CSS_DIR.glob("*.css"))]
    return [value.lower() for text in texts for value in re.findall(rf"{name}\s*:\s*(#[0-9a-fA-F]{{6}})\b", text)]


def rule_colour(file: str, selector: str, prop: str) -> str:
    """A colour declared in a rule: the first `prop: #rrggbb` of the rule with exactly this selector."""
    block = re.search(rf"(?m)^{re.escape(selector)}\s*\{{([^}}]*)\}}", css(file))
    assert block, f"no rule {selector!r} in {file}"
    return re.search(rf"(?<![-\w]){prop}\s*:\s*(#[0-9a-fA-F]{{6}})\b", block.group(1)).group(1).lower()


def rgb(colour: str) -> tuple[int, int, int]:
    return int(colour[1:3], 16), int(colour[3:5], 16), int(colour[5:7], 16)


def luminance(colour: str) -> float:
    def linear(channel: int) -> float:
        value = channel / 255
        return value / 12.92 if value <= 0.04045 else ((value + 0.055) / 1.055) ** 2.4

    red, green, blue = (linear(channel) for channel in rgb(colour))
    return 0.2126 * red + 0.7152 * green + 0.0722 * blue


def contrast(one: str, other: str) -> float:
    lighter, darker = sorted((luminance(one), luminance(other)), reverse=True)
    return (lighter + 0.05) / (darker + 0.05)


def over(colour: str, alpha: float, background: str) -> str:
    """A translucent colour as it shows over a background."""
    pairs = zip(rgb(colour), rgb(background), strict=True)
    mixed = (round(top * alpha + bottom * (1 - alpha)) for top, bottom in pairs)
    return "#{:02x}{:02x}{:02x}".format(*mixed)


# Where muted text sits on a tint: sub-nav tabs and muted chips (--soft), a conversation's role labels (--soft and
# --accent-soft bubbles), question-number circles, end-user ids in <code>, an open alert's "opened …" line.
MUTED_BACKGROUNDS = {
    "white": "#ffffff",
    "page (--bg)": custom_property("--bg", "app.css")[0],
    "code": rule_colour("app.css", "code", "background"),
    "open alert": rule_colour("app.css", ".alert-entry.state-open", "background"),
    **{f"--soft {value}": value for value in custom_property("--soft")},
    **{f"--accent-soft {value}": value for value in custom_property("--accent-soft")},
}


@pytest.mark.parametrize("background", MUTED_BACKGROUNDS.values(), ids=MUTED_BACKGROUNDS.keys())
def test_muted_text_reads_at_least_4_5_to_1_on_every_tint_it_sits_on(background):
    (muted,) = custom_property("--muted")

    assert contrast(muted, background) >= 4.5, f"--muted {muted} on {background}: {contrast(muted, background):.2f}:1"


def test_the_enter_key_hint_on_the_submit_button_reads_at_least_4_5_to_1():
    """The <kbd> inside the primary (accent) button: white text on the key cap's tint over the accent."""
    (accent,) = custom_property("--accent", "app.css")
    rule = r"kbd\.on-dark\s*\{[^}]*background:\s*rgba\((\d+),\s*(\d+),\s*(\d+),\s*([\d.]+)\)"
    cap = re.search(rule, css("label.css"))
    tint = "#{:02x}{:02x}{:02x}".format(*(int(cap.group(i)) for i in (1, 2, 3)))

    assert contrast("#ffffff", over(tint, float(cap.group(4)), accent)) >= 4.5
