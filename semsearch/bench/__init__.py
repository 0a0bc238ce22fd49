"""Lab equipment: `semsearch bench` (build and query speed against a plain baseline) and the
bounded load generator it and `scripts/load_test.py` drive a server with."""
