"""Stage 2, the teacher: loading a Hugging Face model by alias, folder or hub id (`loading`), fine-tuning
a new head on the labelled split (`finetune`), running it over texts (`labelling`, `features`) and the
chunked, memory-mapped cache of its outputs (`cache`).

Its configuration is `config.TeacherConfig`. Reads only the data stage.
"""
