"""What a report section builder returns."""

from __future__ import annotations

from dataclasses import dataclass, field

__all__ = ["Section"]


@dataclass
class Section:
    """One section of the ``reproduce`` report.

    Attributes
    ----------
    title : str
    caption : str
        Plain text: what the paper claims and what was measured here.
    command : str
        The exact command that regenerates this section.
    figures : dict of str to matplotlib Figure
    captions : dict of str to str
        One caption per figure key (plain text, may hold ``$...$`` math): what
        is plotted, the setting, and what to look for. The page numbers them.
    tables : dict of str to pandas DataFrame
        Study tables (quantity, simulated, ci_low, ci_high, theory, p_value, ...).
    data : dict
        JSON-able parameters, seeds and any numbers worth keeping.
    skipped : str or None
        Why the section did not run (e.g. an extra is not installed).
    notes : dict, optional
        What a non-number means in a table column, shown beside the cell:
        ``{table: {column: text}}`` or ``{table: {column: {"inf": text, "nan": text}}}``
        (e.g. ``{"mitigation_map": {"long_run_w2_lower_bound": {"inf": "infinite: E W2^2
        diverges for gamma M (2 - gamma) <= 1 - gamma"}}}``). Columns without a note get
        the page's default explanation.
    settings : str, optional
        How the section's settings should be named on the page when "quick" or
        "full" would mislead (e.g. a section that always runs a quick level).
    """

    title: str
    caption: str = ""
    command: str = ""
    figures: dict = field(default_factory=dict)
    captions: dict = field(default_factory=dict)
    tables: dict = field(default_factory=dict)
    data: dict = field(default_factory=dict)
    skipped: str | None = None
    notes: dict = field(default_factory=dict)
    settings: str | None = None

    def __post_init__(self):
        from .._validate import check_str

        check_str("title", self.title)
        for name in ("caption", "command"):
            check_str(name, getattr(self, name))
        for name in ("figures", "captions", "tables", "data", "notes"):
            if not isinstance(getattr(self, name), dict):
                raise TypeError(f"{name} must be a dict, got {type(getattr(self, name)).__name__}")
        for name in ("skipped", "settings"):
            if getattr(self, name) is not None:
                check_str(name, getattr(self, name))
