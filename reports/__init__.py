"""Tables (LaTeX / Markdown / CSV) and figures from tracked runs."""
