"""Stage 1, data: reading labelled files (`readers`) and tagged CoNLL/JSONL data (`tagged`), the split
into train / dev / test and the unlabelled transfer set, the two task types (`tasks`), length-bucketed
batches (`batching`), BIO repair (`bio`) and the metrics every stage reports (`metrics`).

Its configuration is `config.DataConfig`. Imports nothing from the later stages.
"""
