"""gunicorn's logger with the access log's request line and path free of end-user ids (`expertloop.log_privacy`).

Named by `gunicorn.conf.py`, which gunicorn reads from the directory it starts in (the Docker image's and the
README's commands start it there).
"""

from gunicorn import glogging

from expertloop.log_privacy import hide_end_users


class AccessLogger(glogging.Logger):
    def atoms(self, resp, req, environ, request_time):
        atoms = super().atoms(resp, req, environ, request_time)
        for name in ("r", "U"):  # the request line (with RAW_URI) and the path
            if isinstance(atoms.get(name), str):
                atoms[name] = hide_end_users(atoms[name])
        return atoms
