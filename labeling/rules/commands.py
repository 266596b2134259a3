"""Who acted when no person signed in did, but an operator ran a management command.

Commands act as nobody (no user, no API key), like beat's weekly close; they pass their name to the services, which
keep it in the audit event's details (`COMMAND`), so that the audit log, the API keys page and the server log name the
command alike rather than calling it automatic.
"""

COMMAND = "command"  # the key of an audit event's details naming the management command that acted


def by_command(name: str) -> str:
    """How every page and log names a management command that acted: `a command (manage.py <name>)`."""
    return f"a command (manage.py {name})"


def command_details(command: str) -> dict[str, str]:
    """What an audit event's details add for the command that acted (none when a person or the system did)."""
    return {COMMAND: command} if command else {}
