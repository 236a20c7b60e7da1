"""Stage 6, benchmarking: `kdedge bench` timing artifacts and teachers side by side (`runner`), the
machine fingerprint and matmul peak (`machine`), and the tables and plots it writes (`report`,
`schema.json` for its JSON).

Reads the teacher and export stages.
"""
