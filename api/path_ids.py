"""Ids in a URL's path. An external id or end user id is any text (api.urls.AnyText), so a slash at the end of the
URL is part of the id; a client that adds one after every path asks for an id nobody has. Its 404 says so."""

from collections.abc import Callable

from django.urls import reverse


def slash_slip(path_id: str, *, route: str, known: Callable[[str], bool]) -> str | None:
    """The note for a 404 when the id ends with a slash and the id without it is `known` (the id itself being unknown,
    which the caller checked): it names that id's URL. None otherwise. Not a redirect: the id with the slash may name
    an output or end user tomorrow, and a DELETE must never be sent on to another end user."""
    meant = path_id.removesuffix("/")
    if meant == path_id or not meant or not known(meant):
        return None
    return f" (a slash at the end of the URL is part of the id). Did you mean {reverse(route, args=[meant])}?"
