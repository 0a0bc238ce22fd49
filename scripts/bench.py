#!/usr/bin/env python
"""The benchmark as a script: the same as `semsearch bench` (see semsearch/bench.py).

    .venv/bin/python scripts/bench.py ../shared/datasets/scifact/corpus.jsonl \\
        --work /tmp/bench --queries ../shared/datasets/scifact/queries.jsonl
"""

from semsearch.cli import bench

if __name__ == "__main__":
    bench()
