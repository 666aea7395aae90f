"""The one type every theory module's ``derivations()`` returns.

A :class:`Derivation` is a SymPy derivation written out: named steps (each a
short description and a SymPy expression, equation or boolean) and the result.
``str(d)`` reads as plain text, :meth:`Derivation.latex` as LaTeX (what the
report typesets), and ``d.result`` is the expression the numeric function of
the same name evaluates.
"""

from __future__ import annotations

from dataclasses import dataclass, field

__all__ = ["Derivation"]


@dataclass(frozen=True)
class Derivation:
    """A SymPy derivation: named steps and the result.

    Attributes
    ----------
    name : str
        What is derived, in words.
    steps : list of (str, sympy object)
        The steps in order: a description and the expression it gives.
    result : sympy object
        The final expression (or equation, or boolean for a decision).
    source : str
        Where the result comes from (a paper, a book); empty when derived here.

    Examples
    --------
    >>> import sympy as sp
    >>> from collapse_theory.theory._derivation import Derivation
    >>> x = sp.Symbol("x")
    >>> d = Derivation("square", [("definition", x * x)], x**2)
    >>> d.latex().splitlines()[-1]
    'x^{2}'
    """

    name: str
    steps: list = field(default_factory=list)
    result: object = None
    source: str = ""

    def __str__(self) -> str:
        lines = [self.name]
        lines += [f"  {d}: {e}" for d, e in self.steps]
        lines.append(f"  => {self.result}")
        if self.source:
            lines.append(f"  (source: {self.source})")
        return "\n".join(lines)

    def latex(self) -> str:
        """The steps as LaTeX, one ``% description`` comment line before each, the result last."""
        import sympy as sp

        return "\n".join([f"% {d}\n{sp.latex(e)}" for d, e in self.steps] + [sp.latex(self.result)])
