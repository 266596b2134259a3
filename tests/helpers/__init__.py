"""What several test modules share: the rubric, labeled items, stored metric rows, sign-in (no tests here)."""
