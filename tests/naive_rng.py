"""Pure-Python reference definitions of the discrete kernels' hand-written generators.

Written from the published definitions, independently of
``collapse_theory.chains._kernels_discrete``:

* SplitMix64 (Steele, Lea & Flood 2014; Vigna's ``splitmix64.c``):
  ``z += 0x9E3779B97F4A7C15``, then two xor-shift-multiply rounds;
* xoshiro256** 1.0 (Blackman & Vigna 2018, ``xoshiro256starstar.c``):
  ``rotl(s1 * 5, 7) * 9`` and the 256-bit linear state update;
* Lemire's nearly divisionless bounded integers (Lemire 2019, ACM TOMACS 29:3),
  32-bit version on the top 32 bits of each 64-bit output.
"""

from __future__ import annotations

MASK = (1 << 64) - 1


def splitmix64(seed: int, n: int) -> list[int]:
    z = seed & MASK
    out = []
    for _ in range(n):
        z = (z + 0x9E3779B97F4A7C15) & MASK
        x = z
        x = ((x ^ (x >> 30)) * 0xBF58476D1CE4E5B9) & MASK
        x = ((x ^ (x >> 27)) * 0x94D049BB133111EB) & MASK
        out.append(x ^ (x >> 31))
    return out


def _rotl(x: int, k: int) -> int:
    return ((x << k) | (x >> (64 - k))) & MASK


class Xoshiro256ss:
    def __init__(self, state):
        self.s = [int(v) & MASK for v in state]

    def next(self) -> int:
        s = self.s
        result = (_rotl((s[1] * 5) & MASK, 7) * 9) & MASK
        t = (s[1] << 17) & MASK
        s[2] ^= s[0]
        s[3] ^= s[1]
        s[1] ^= s[2]
        s[0] ^= s[3]
        s[2] ^= t
        s[3] = _rotl(s[3], 45)
        return result

    def bounded(self, bound: int) -> int:
        """Uniform in [0, bound) by Lemire's method on the top 32 bits."""
        m = (self.next() >> 32) * bound
        low = m & 0xFFFFFFFF
        if low < bound:
            t = (2**32 - bound) % bound
            while low < t:
                m = (self.next() >> 32) * bound
                low = m & 0xFFFFFFFF
        return m >> 32
