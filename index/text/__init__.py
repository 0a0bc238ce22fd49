"""Text analysis: words, stems and stop words for every keyword use, and sentence-aware chunks
bounded by the model's own tokenizer."""
