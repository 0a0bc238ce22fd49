"""`semsearch` with the fake embedder registered: `python -m tests.support.cli build ...
--model hashing-256`, for tests that run the command in a child process."""

from __future__ import annotations

from semsearch.cli import main
from tests.support.fake_embedder import register

if __name__ == "__main__":
    register()
    main()
