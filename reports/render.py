"""Render a :class:`~bench.reports.tables.Table` as LaTeX (booktabs), Markdown or CSV."""
from __future__ import annotations

import io
import math
from typing import Callable

import pandas as pd

from bench.reports.metric_info import format_value, higher_is_better, known
from bench.reports.tables import Cell, Column, Row, Table

PREFIX = {"reconstruction": "Rec.", "animation": "Anim."}
TABLE_BEGIN = "% motionbench:table-begin"
TABLE_END = "% motionbench:table-end"


def legend(table: Table) -> str:
    """What arrows, marks, brackets, parentheses, N/A and reported rows mean in ``table``."""
    marks = ("Marks per group and metric among measured rows as the caption says (reported rows are not ranked)."
             if table.has_measured else "Bold: best value per group and metric.")
    brackets = " Brackets: 95% interval (cluster bootstrap over videos)." if table.intervals else ""
    return (f"Arrows: lower (down) or higher (up) is better. {marks}{brackets} Parentheses: best over the reference "
            "images (one-shot methods). N/A: the metric does not apply or could not be computed (the reason is in "
            "the .csv); --: no run." + (" Rows marked (reported) are published numbers." if table.has_measured else ""))


def row_label(row: Row) -> str:
    """The row's label, with a dagger when its tasks come from different ``bench run`` calls."""
    return row.label + (" †" if row.mixed else "")


def footnotes(table: Table, group_title: Callable[[list[str]], str]) -> list[str]:
    """The runs behind the measured rows, mixed rows and runs of other protocols left out."""
    runs = []
    for group in table.groups:
        rows = [f"{row.label} " + ", ".join(f"{PREFIX[task]} {run['run_id'][:8]}" for task, run in sorted(
            row.runs.items(), key=lambda item: item[0] != "reconstruction")) for row in group.rows if row.runs]
        if rows:
            runs.append(f"{group_title(group.lines)}: " + "; ".join(rows))
    notes = list(table.notes)
    if any(row.mixed for group in table.groups for row in group.rows):
        notes.append("† reconstruction and animation come from different bench run calls.")
    if seed_note(table):
        notes.append(seed_note(table))
    if runs:
        notes.append("Runs (the newest of each cell): " + " / ".join(runs) + ".")
    if table.left_out:
        notes.append(f"{table.left_out} run(s) of other protocols (other test items, N, seed, convention, precision "
                     "or backends) are left out; bench report runs lists every run.")
    return notes

_LATEX_SPECIAL = {"\\": r"\textbackslash{}", "&": r"\&", "%": r"\%", "$": r"\$", "#": r"\#", "_": r"\_",
                  "{": r"\{", "}": r"\}", "~": r"\textasciitilde{}", "^": r"\textasciicircum{}"}


def latex_escape(text: str) -> str:
    return "".join(_LATEX_SPECIAL.get(ch, ch) for ch in text)


def arrow(metric: str, latex: bool = False) -> str:
    """The direction arrow of ``metric`` (none when its direction is unknown)."""
    if not known(metric):
        return ""
    up = higher_is_better(metric)
    if latex:
        return r"($\uparrow$)" if up else r"($\downarrow$)"
    return "↑" if up else "↓"


def number_text(metric: str, value: float | None, digits: int | None = None) -> str:
    """``value`` with the decimals the paper printed (``digits``, reported cells), else the registry's."""
    if value is None or digits is None or math.isnan(value):
        return format_value(metric, value)
    return f"{value:.{digits}f}"


def interval_text(metric: str, cell: Cell) -> str:
    """`` [low, high]``: the value's interval (empty when it has none)."""
    if cell.ci is None or cell.value is None:
        return ""
    return f" [{format_value(metric, cell.ci[0])}, {format_value(metric, cell.ci[1])}]"


def spread_text(metric: str, cell: Cell, pm: str = "±") -> str:
    """`` ±sd``: the value's standard deviation over training seeds (empty with one seed or none)."""
    if cell.seed_sd is None or cell.value is None:
        return ""
    return f" {pm}{format_value(metric, cell.seed_sd)}"


def seed_note(table: Table) -> str | None:
    """The footnote that says how rows of checkpoints trained with several seeds are shown."""
    counts = sorted({c.seeds for g in table.groups for r in g.rows for c in r.cells.values() if c.seed_sd is not None})
    if not counts:
        return None
    over = " or ".join(str(n) for n in counts)
    return (f"± : standard deviation over {over} training seeds of the row's checkpoint (each row shows the runs of "
            "its smallest training seed, mb.train_seed).")


def marked(cell: Cell, text: str, bold: Callable[[str], str], tied: Callable[[str], str]) -> str:
    return bold(text) if cell.bold else tied(text) if cell.tied else text


def _cell_text(row: Row, column: Column, bold: Callable[[str], str], missing: str,
               tied: Callable[[str], str], intervals: bool = False, pm: str = "±") -> str:
    """``a`` or ``a/b`` for pairs (with ``[low, high]`` when ``intervals``, `` ±sd`` over training seeds),
    `` (best)`` when any best-of-references value exists."""
    cells: list[Cell] = [row.cells[(column.task, m)] for m in column.metrics]
    if all(c.value is None and c.na is None for c in cells):
        return missing
    parts = []
    for metric, cell in zip(column.metrics, cells):
        text = marked(cell, number_text(metric, cell.value, cell.digits), bold, tied)
        parts.append(text + (interval_text(metric, cell) if intervals else "") + spread_text(metric, cell, pm))
    text = "/".join(parts)
    if any(c.best is not None for c in cells):
        text += " (" + "/".join(number_text(m, c.best, c.best_digits) for m, c in zip(column.metrics, cells)) + ")"
    return text


def _header_arrow(column: Column, latex: bool) -> str:
    return arrow(column.metrics[0], latex)


def to_latex(table: Table, document: bool = True) -> str:
    """booktabs tabular in a ``table`` float; a complete article when ``document`` (compiles as is)."""
    ncols = 2 + len(table.columns)
    lines = [TABLE_BEGIN, r"\begin{table}[ht]", r"\centering", r"\small",
             r"\resizebox{\ifdim\width>\linewidth\linewidth\else\width\fi}{!}{%",
             r"\begin{tabular}{ll" + "c" * len(table.columns) + "}", r"\toprule"]
    spans, rules, start = [" ", " "], [], 3
    for title, width in table.spans:
        spans.append(rf"\multicolumn{{{width}}}{{c}}{{{title}}}")
        rules.append(rf"\cmidrule(lr){{{start}-{start + width - 1}}}")
        start += width
    lines.append(" & ".join(spans) + r" \\")
    lines.append("".join(rules))
    header = [table.group_header, table.row_header] + [
        f"{latex_escape(c.header)} {_header_arrow(c, True)}" for c in table.columns]
    lines.append(" & ".join(header) + r" \\")
    lines.append(r"\midrule")
    for g, group in enumerate(table.groups):
        if g:
            lines.append(r"\midrule")
        for i, row in enumerate(group.rows):
            if i and row.origin != group.rows[i - 1].origin:
                lines.append(rf"\cmidrule(l){{2-{ncols}}}")
            first = latex_escape(group.lines[i]) if i < len(group.lines) else ""
            if i == len(group.rows) - 1 and len(group.lines) > i + 1:
                first = " ".join(latex_escape(x) for x in group.lines[i:])
            cells = [_cell_text(row, c, lambda t: rf"\textbf{{{t}}}", "--", lambda t: rf"\underline{{{t}}}",
                                table.intervals, r"$\pm$") for c in table.columns]
            lines.append(" & ".join([first, latex_escape(row_label(row))] + cells) + r" \\")
    lines += [r"\bottomrule", r"\end{tabular}}"]
    lines += [rf"\par\smallskip{{\footnotesize {latex_escape(note)}}}" for note in footnotes(table, _joined)]
    lines += [rf"\caption{{{latex_escape(table.caption)} {latex_escape(legend(table))}}}", r"\end{table}", TABLE_END]
    body = "\n".join(lines) + "\n"
    if not document:
        return body
    return ("\\documentclass{article}\n\\usepackage[landscape,margin=1cm]{geometry}\n"
            "\\usepackage{booktabs}\n\\usepackage{graphicx}\n\\pagestyle{empty}\n"
            "\\begin{document}\n" + body + "\\end{document}\n")


def _joined(lines: list[str]) -> str:
    """``VoxCeleb (507)``; other second lines after a comma: ``Nemo (124), trained on VoxCeleb``."""
    out = lines[0] if lines else ""
    for line in lines[1:]:
        out += (" " if line.startswith("(") else ", ") + line
    return out


def to_markdown(table: Table) -> str:
    """Pipe table; task prefixes ("Rec.", "Anim.") replace the two-level header."""
    header = [table.group_header, table.row_header] + [
        f"{PREFIX[c.task]} {c.header} {_header_arrow(c, False)}" for c in table.columns]
    out = ["| " + " | ".join(header) + " |", "|" + "|".join(["---"] * 2 + [":---:"] * len(table.columns)) + "|"]
    for group in table.groups:
        for i, row in enumerate(group.rows):
            first = _joined(group.lines) if i == 0 else ""
            cells = [_cell_text(row, c, lambda t: f"**{t}**", "–", lambda t: f"<u>{t}</u>", table.intervals)
                     for c in table.columns]
            out.append("| " + " | ".join([first, row_label(row)] + cells) + " |")
    notes = footnotes(table, _joined)
    return "\n".join(out) + "\n" + "".join(f"\n{note}\n" for note in notes)


def to_frame(table: Table, printed: bool = False) -> pd.DataFrame:
    """Machine-readable view: one line per row with raw values, best-of-references and N/A reasons.

    With ``printed`` (the CSV), values of reported cells are the paper's printed text (``"0.070"``).
    """
    def value(number: float | None, digits: int | None) -> float | str | None:
        return f"{number:.{digits}f}" if printed and number is not None and digits is not None else number

    records = []
    for group in table.groups:
        for row in group.rows:
            record = {"group": _joined(group.lines), "label": row.label, "origin": row.origin,
                      **{k: (None if v is pd.NA else v) for k, v in row.keys.items()},
                      **{f"run_id.{task}": run["run_id"] for task, run in row.runs.items()},
                      "mixed_runs": row.mixed}
            for column in table.columns:
                for metric in column.metrics:
                    cell = row.cells[(column.task, metric)]
                    name = f"{column.task}.{metric}"
                    record[name] = value(cell.value, cell.digits)
                    record[f"{name}_best"] = value(cell.best, cell.best_digits)
                    record[f"{name}_ci_low"], record[f"{name}_ci_high"] = cell.ci or (None, None)
                    record[f"{name}_seed_sd"], record[f"{name}_seeds"] = cell.seed_sd, cell.seeds
                    record[f"{name}_na"] = cell.na if cell.value is None else None
            records.append(record)
    return pd.DataFrame.from_records(records)


def to_csv(table: Table) -> str:
    buffer = io.StringIO()
    to_frame(table, printed=True).to_csv(buffer, index=False)
    return buffer.getvalue()


def frame_to_markdown(frame: pd.DataFrame) -> str:
    """Pipe table of a DataFrame (floats with 4 significant digits, missing values empty)."""
    def text(value: object) -> str:
        if value is None or value is pd.NA or (isinstance(value, float) and value != value):
            return ""
        return f"{value:.4g}" if isinstance(value, float) else str(value).replace("|", "/")

    lines = ["| " + " | ".join(map(str, frame.columns)) + " |", "|" + "---|" * len(frame.columns)]
    for row in frame.itertuples(index=False):
        lines.append("| " + " | ".join(text(v) for v in row) + " |")
    return "\n".join(lines) + "\n"


RENDERERS = {"tex": to_latex, "md": to_markdown, "csv": to_csv}
