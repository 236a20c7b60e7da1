"""Benchmarking on the target, with the runtime alone (no torch): `kdedge-runtime bench`.

- `machine`: the hardware fingerprint every result carries;
- `timing`: batch latency of artifacts side by side (the timing core `kdedge bench` uses too);
- `scenarios`: MLPerf Inference's scenarios (single-stream, offline, server) over real texts;
- `report`: Markdown and JSON (`schema.json`, one schema for both tools);
- `compare`: runs from several machines in one table and one plot.
"""
