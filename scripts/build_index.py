#!/usr/bin/env python
"""Build an index: the same as `semsearch build INPUT... --out DIR`, for those who run scripts."""

from semsearch.cli import cli

if __name__ == "__main__":
    cli(["build", *__import__("sys").argv[1:]], prog_name="build_index.py")
