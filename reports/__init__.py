"""Tables (LaTeX / Markdown / CSV) and figures from tracked runs, and the regression gate.

``runs`` (MLflow runs -> DataFrame), ``published`` (the paper's Tables 1-4 from
``configs/published``), ``tables`` (the paper's layouts: groups, rows, bold), ``render``
(LaTeX booktabs, Markdown, CSV), ``latex`` (pdflatex / pdftoppm), ``figures`` (seaborn),
``outputs`` (what ``bench report`` and ``bench demo`` write), ``gate`` (``bench check``),
``metric_info`` (labels, decimals and directions of metrics).
"""
