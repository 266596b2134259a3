#!/usr/bin/env python
import os
import sys


def main():
    os.environ.setdefault("DJANGO_SETTINGS_MODULE", "expertloop.settings")
    from django.core.management import execute_from_command_line

    if sys.argv[1:2] != ["runserver"]:
        # Commands (migrate, imports, closing a week) may run statements longer than a web request may.
        from expertloop.db import use_task_statement_timeout

        use_task_statement_timeout()
    execute_from_command_line(sys.argv)


if __name__ == "__main__":
    main()
