"""The orchestration on top of the stages: recipe → data → teacher → student → distillation → export →
artifact. `prepare` (data, stage-0 teacher, its cached outputs), `compress` (the single-task run),
`multitask` (MKD: several tasks, one student), `extract` (an undistilled student) and
`export_teacher` (the teacher as an artifact). Nothing below imports from here.
"""
