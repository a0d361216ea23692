"""Index arithmetic done at render time.

An Affine is an integer index written as a constant plus terms
`coefficient * expression`, where each expression is a non-negative integer
below a known bound (a loop variable, a work-item's block number). Dividing
such an index by m, or taking it modulo m, splits off the terms whose
coefficients m divides, exactly: a view's coordinates then often need no
division at run time, and positions that do not depend on some variable
render as the same text, which the renderer computes once. Whatever cannot be
split becomes an opaque term holding the C division or remainder.
"""
from __future__ import annotations

from dataclasses import dataclass


@dataclass(frozen=True)
class Affine:
    terms: tuple[tuple[str, int, int], ...] = ()  # (expression, coefficient, bound): 0 <= expression < bound
    constant: int = 0

    @staticmethod
    def of(expression: str, bound: int, coefficient: int = 1) -> "Affine":
        """coefficient * expression, for an expression in [0, bound)."""
        return Affine(((expression, coefficient, bound),)) if bound > 1 and coefficient else Affine()

    def __add__(self, other) -> "Affine":
        if isinstance(other, int):
            return Affine(self.terms, self.constant + other)
        merged: dict[str, list[int]] = {}
        for expression, coefficient, bound in self.terms + other.terms:
            entry = merged.setdefault(expression, [0, bound])
            entry[0] += coefficient
        return Affine(tuple((e, c, b) for e, (c, b) in merged.items() if c), self.constant + other.constant)

    def scale(self, factor: int) -> "Affine":
        if factor == 0:
            return Affine()
        return Affine(tuple((e, c * factor, b) for e, c, b in self.terms), self.constant * factor)

    @property
    def low(self) -> int:
        return self.constant + sum(min(0, c * (b - 1)) for _, c, b in self.terms)

    @property
    def high(self) -> int:
        """The largest value (inclusive)."""
        return self.constant + sum(max(0, c * (b - 1)) for _, c, b in self.terms)

    def divmod(self, m: int) -> tuple["Affine", "Affine"]:
        """(self // m, self % m) for a non-negative index."""
        if m <= 1:  # m == 0 only in a kernel over an empty shape, which never runs
            return self, Affine()
        whole = tuple((e, c // m, b) for e, c, b in self.terms if c % m == 0)
        rest = Affine(tuple(t for t in self.terms if t[1] % m), self.constant % m)
        if rest.low < 0:  # the rest could be negative, where C's division truncates: divide the whole index
            return Affine.of(f"({self} / {m})", self.high // m + 1), Affine.of(f"({self} % {m})", m)
        quotient = Affine(whole, self.constant // m)
        if rest.high < m:
            return quotient, rest
        big = max(rest.terms, key=lambda t: t[1])
        expression, coefficient, bound = big
        small = Affine(tuple(t for t in rest.terms if t is not big), rest.constant)
        if coefficient > 0 and m % coefficient == 0 and small.low >= 0 and small.high < coefficient:
            # c e + s with c dividing m and 0 <= s < c: the quotient is e / (m / c) and the
            # remainder keeps its multiple of c (gid * 8 % 32 is 8 (gid % 4): lanes from it
            # are known not to pass 32; row * 9 + r, r < 9, % 144 is 9 (row % 16) + r)
            per = m // coefficient
            return (quotient + Affine.of(f"({expression} / {per})", (bound - 1) // per + 1),
                    Affine.of(f"({expression} % {per})", min(per, bound), coefficient) + small)
        return quotient + Affine.of(f"({rest} / {m})", rest.high // m + 1), Affine.of(f"({rest} % {m})", m)

    def __str__(self) -> str:
        parts = [e if c == 1 else f"{e} * {c}" for e, c, _ in self.terms]
        if self.constant or not parts:
            parts.append(str(self.constant))
        text = " + ".join(parts)
        return f"({text})" if len(parts) > 1 else text
