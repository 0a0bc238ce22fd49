"""Build side: turn articles into a stored, versioned index directory (FAISS + SQLite)."""
