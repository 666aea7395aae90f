"""What the chains' result classes share (private)."""

from __future__ import annotations


class _Paths:
    """``replicates`` and ``generations`` of a result whose paths have shape (R, G + 1, ...).

    A subclass names one such array attribute in ``_PATHS``.
    """

    _PATHS = ""

    @property
    def replicates(self) -> int:
        """``R``, the number of replicates."""
        return getattr(self, self._PATHS).shape[0]

    @property
    def generations(self) -> int:
        """``G``, the number of generations after generation 0."""
        return getattr(self, self._PATHS).shape[1] - 1
