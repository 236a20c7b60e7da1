"""Triton Python-backend models that `kdedge-runtime export-triton` copies into a model repository as
`model.py`: the tokenizer (texts to padded ids, as the student was trained) and the post-processing
(logits to the V2 route's outputs). Both need kdedge-runtime installed in Triton's Python environment."""
