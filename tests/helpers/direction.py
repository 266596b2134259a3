"""The writing direction a page gives to a piece of text: the `dir` of the nearest element around it that sets one."""

from html.parser import HTMLParser

VOID = frozenset("area base br col embed hr img input link meta source track wbr".split())


class _DirectionReader(HTMLParser):
    def __init__(self, marker: str):
        super().__init__(convert_charrefs=True)
        self.marker, self.stack, self.found = marker, [], []

    def handle_starttag(self, tag, attrs):
        if tag in VOID:
            return
        attrs = dict(attrs)
        # <bdi> takes its direction from its own text, as dir="auto" does.
        self.stack.append((tag, attrs.get("dir") or ("auto" if tag == "bdi" else None)))

    def handle_endtag(self, tag):
        for depth in range(len(self.stack) - 1, -1, -1):
            if self.stack[depth][0] == tag:
                del self.stack[depth:]
                return

    def handle_data(self, data):
        if self.marker in data:
            directions = [direction for _, direction in self.stack if direction]
            self.found.append((self.stack[-1][0] if self.stack else None, directions[-1] if directions else None))


def directions_of(html: str, marker: str) -> list[tuple[str | None, str | None]]:
    """(element, direction) for each text node of the page holding `marker`; direction None when nothing sets one."""
    reader = _DirectionReader(marker)
    reader.feed(html)
    assert reader.found, f"{marker!r} is not on the page"
    return reader.found
