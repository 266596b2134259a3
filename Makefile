.PHONY: demo test bench-w1 bench-w2 bench-w3 bench-w4 bench-w5 bench-signin bench-client

# Run the demo: Python >= 3.12 venv, SQLite, eager Celery, seeded data, http://127.0.0.1:8000/
demo:
	scripts/demo.sh

# Lint (ruff check and format --check), then run the whole test suite (PostgreSQL and Redis when they answer; see README).
test:
	scripts/test.sh

bench-w1:
	scripts/bootstrap.sh requirements-dev.txt
	.venv/bin/python bench/w1_ingest.py

bench-w2:
	scripts/bootstrap.sh requirements-dev.txt
	.venv/bin/python bench/w2_labeling.py

bench-w3:
	scripts/bootstrap.sh requirements-dev.txt
	.venv/bin/python bench/w3_pull.py

bench-w4:
	scripts/bootstrap.sh requirements-dev.txt
	.venv/bin/python bench/w4_close.py

bench-w5:
	scripts/bootstrap.sh requirements-dev.txt
	.venv/bin/python bench/w5_explore.py

bench-signin:
	scripts/bootstrap.sh requirements-dev.txt
	.venv/bin/python bench/signin_flood.py

bench-client:
	scripts/bootstrap.sh requirements-dev.txt
	.venv/bin/python bench/client_overhead.py
