"""The seed papers' headline experiments, in miniature, on the aligned embedded model.

`bench/reproduce.py` is the command; this package holds its parts: `plan.py` (sizes, data,
settings), `steps.py` (resumable steps that call the gate's own library), one module per paper
(`similarity.py`, `sap.py`, `antidote.py`), `stats.py` (intervals) and `report.py` (markdown
and plots).
"""
