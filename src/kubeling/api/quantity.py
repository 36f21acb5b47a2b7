"""Kubernetes resource quantities (k8s.io/apimachinery/pkg/api/resource), exactly.

A quantity is a decimal fixed-point number with a suffix: decimal SI (n u m "" k M G
T P E), binary SI (Ki Mi Gi Ti Pi Ei) or a decimal exponent (e3, E-6). Values are
kept exact as `unscaled * 10**exp` integers, rounded up to nano precision on parse,
and printed in Kubernetes' canonical form (`1000m` -> `1`, `0.5` -> `500m`,
`1024Mi` -> `1Gi`). Like Kubernetes, a parsed string already in canonical shape is
kept verbatim for serialization (`1.441` stays `1.441` until arithmetic changes it).
"""

from __future__ import annotations

import functools
from decimal import Decimal
from typing import Any

DECIMAL_SI = "DecimalSI"
BINARY_SI = "BinarySI"
DECIMAL_EXPONENT = "DecimalExponent"

_SPLIT_RE = "^([+-]?[0-9.]+)([eEinumkKMGTP]*[-+]?[0-9]*)$"
ERR_FORMAT_WRONG = f"quantities must match the regular expression '{_SPLIT_RE}'"
ERR_NUMERIC = "unable to parse numeric part of quantity"
ERR_SUFFIX = "unable to parse quantity's suffix"

_DECIMAL_SUFFIXES = {"n": -9, "u": -6, "m": -3, "": 0, "k": 3, "M": 6, "G": 9, "T": 12, "P": 15, "E": 18}
_BINARY_SUFFIXES = {"Ki": 10, "Mi": 20, "Gi": 30, "Ti": 40, "Pi": 50, "Ei": 60}
_DECIMAL_BY_EXP = {e: s for s, e in _DECIMAL_SUFFIXES.items()}
_BINARY_BY_EXP = {e: s for s, e in _BINARY_SUFFIXES.items()}
_DIGITS = frozenset("0123456789")
_SUFFIX_CHARS = frozenset("eEinumkKMGTP")
_INT32_MAX = 2**31 - 1
_INT64_MAX = 2**63 - 1
_NANO = -9


def _scan(s: str) -> tuple[bool, str, str, str]:
    """Split a quantity into sign, integer digits, fraction digits and suffix.

    A hand scanner like Kubernetes' parseQuantityString: it is deliberately more
    permissive than the documented regex (e.g. "+" alone reads as 0).
    """
    end, pos, positive = len(s), 0, True
    if s and s[0] in "+-":
        positive, pos = s[0] == "+", 1
    while pos < end and s[pos] == "0":  # leading zeros
        pos += 1
    if pos >= end:
        return positive, "0", "", ""
    start = pos
    while pos < end and s[pos] in _DIGITS:
        pos += 1
    num = s[start:pos] or "0"
    denom = ""
    if pos < end and s[pos] == ".":
        pos += 1
        start = pos
        while pos < end and s[pos] in _DIGITS:
            pos += 1
        denom = s[start:pos]
    suffix_start = pos
    while pos < end and s[pos] in _SUFFIX_CHARS:
        pos += 1
    if pos < end and s[pos] in "+-":
        pos += 1
    while pos < end and s[pos] in _DIGITS:
        pos += 1
    if pos < end:
        raise ValueError(ERR_FORMAT_WRONG)
    return positive, num, denom, s[suffix_start:]


def _interpret(suffix: str) -> tuple[int, int, str]:
    """(base, exponent, format) for a suffix, or ValueError(ERR_SUFFIX)."""
    if suffix in _DECIMAL_SUFFIXES:
        return 10, _DECIMAL_SUFFIXES[suffix], DECIMAL_SI
    if suffix in _BINARY_SUFFIXES:
        return 2, _BINARY_SUFFIXES[suffix], BINARY_SI
    if len(suffix) > 1 and suffix[0] in "eE":
        digits = suffix[1:].lstrip("+-")
        signs = len(suffix) - 1 - len(digits)
        # strconv.ParseInt: at most one sign, then digits; the scale must fit an int32.
        if signs <= 1 and digits and set(digits) <= _DIGITS:
            exponent = int(suffix[1:])
            if abs(exponent) <= _INT32_MAX:
                return 10, exponent, DECIMAL_EXPONENT
    raise ValueError(ERR_SUFFIX)


def _keeps_input(num: str, denom: str, base: int, exponent: int, fmt: str) -> bool:
    """Whether Kubernetes' int64 fast path would cache the input string verbatim."""
    mantissa = 1
    if fmt == BINARY_SI:
        if exponent < 0 or denom:
            return False
        mantissa = 1 << exponent
        precision = 15 - len(num) - exponent * 3 // 10 - 1
        scale = 0
    else:
        precision = 18 - (len(num) + len(denom))
        scale = exponent
    scale -= len(denom)
    if precision < 0 or scale < _NANO:
        return False
    shifted = num + denom
    value = int(shifted)
    if value * mantissa > _INT64_MAX:
        return False
    if fmt == BINARY_SI:
        return value & 0x07 != 0
    return scale % 3 == 0 and not shifted.endswith("000") and shifted[0] != "0"


def _round_up_to_nano(unscaled: int, exp: int) -> tuple[int, int]:
    """Round a non-negative amount up to 1e-9, as Kubernetes does on parse."""
    if exp >= _NANO or unscaled == 0:
        return unscaled, exp
    shift = _NANO - exp
    if len(str(unscaled)) <= shift:  # below one nano: the smallest non-zero value
        return 1, _NANO
    q, r = divmod(unscaled, 10**shift)
    return q + (1 if r else 0), _NANO


def _pow10_int(unscaled: int, exp: int) -> int | None:
    """unscaled * 10**exp as an int, or None when that is not an integer."""
    if exp >= 0:
        return unscaled * 10**exp
    q, r = divmod(unscaled, 10**-exp)
    return None if r else q


def _strip_zeros(unscaled: int, exp: int) -> tuple[int, int]:
    if unscaled == 0:
        return 0, 0
    while unscaled % 10 == 0:
        unscaled //= 10
        exp += 1
    return unscaled, exp


class Quantity:
    """An exact Kubernetes quantity: value = unscaled * 10**exp, plus its format."""

    __slots__ = ("_cached", "exp", "format", "unscaled")

    def __init__(self, unscaled: int, exp: int = 0, format: str = DECIMAL_SI, *, cached: str | None = None):
        # Immutable: parsed instances are cached and shared.
        for name, val in (("unscaled", unscaled), ("exp", exp), ("format", format), ("_cached", cached)):
            object.__setattr__(self, name, val)

    def __setattr__(self, name: str, val: Any) -> None:
        raise AttributeError("Quantity is immutable")

    # -- construction --

    @classmethod
    def parse(cls, s: str) -> Quantity:
        """ParseQuantity; raises ValueError with Kubernetes' message."""
        if not isinstance(s, str) or not s:
            raise ValueError(ERR_FORMAT_WRONG)
        if s == "0":
            return cls(0, 0, DECIMAL_SI, cached="0")
        positive, num, denom, suffix = _scan(s)
        base, exponent, fmt = _interpret(suffix)
        cached = s if _keeps_input(num, denom, base, exponent, fmt) else None
        unscaled, exp = int(num + denom), -len(denom)
        if base == 10:
            exp += exponent
        else:
            unscaled <<= exponent
        unscaled, exp = _round_up_to_nano(unscaled, exp)
        if fmt == BINARY_SI:
            unscaled, exp, fmt = _bound_binary(unscaled, exp)
        return cls(unscaled if positive else -unscaled, exp, fmt, cached=cached)

    @classmethod
    def from_json(cls, value: Any) -> Quantity:
        """A quantity as found in a JSON document: a string, or a bare number."""
        if isinstance(value, str):
            return cls.parse(value.strip())
        if isinstance(value, (int, float)) and not isinstance(value, bool):
            return cls.parse(str(value))
        raise ValueError(ERR_FORMAT_WRONG)

    @classmethod
    def from_int(cls, value: int, format: str = DECIMAL_SI) -> Quantity:
        return cls(value, 0, format)

    @classmethod
    def from_milli(cls, value: int, format: str = DECIMAL_SI) -> Quantity:
        return cls(value, -3, format)

    # -- values --

    @property
    def amount(self) -> Decimal:
        """The exact value as a Decimal (constructed exactly, independent of context)."""
        sign = 1 if self.unscaled < 0 else 0
        return Decimal((sign, tuple(int(d) for d in str(abs(self.unscaled))), self.exp))

    def sign(self) -> int:
        return (self.unscaled > 0) - (self.unscaled < 0)

    def is_zero(self) -> bool:
        return self.unscaled == 0

    def scaled_value(self, scale: int) -> int:
        """ceil(|q| / 10**scale) with q's sign, i.e. rounded away from zero.

        Kubernetes returns an int64 that silently overflows; this saturates instead.
        """
        mag, shift = abs(self.unscaled), self.exp - scale
        if mag == 0:
            return 0
        if shift >= 0:
            out = _INT64_MAX + 1 if len(str(mag)) + shift > 19 else mag * 10**shift
        elif len(str(mag)) <= -shift:
            out = 1
        else:
            q, r = divmod(mag, 10**-shift)
            out = q + (1 if r else 0)
        out = min(out, _INT64_MAX)
        return out if self.unscaled > 0 else -out

    def value(self) -> int:
        """Value(): whole units, rounded away from zero."""
        return self.scaled_value(0)

    def milli_value(self) -> int:
        """MilliValue(): thousandths, rounded away from zero."""
        return self.scaled_value(-3)

    # -- formatting --

    def canonicalize(self) -> str:
        """The canonical string, ignoring any verbatim input kept from parsing."""
        if self.unscaled == 0:
            return "0"
        fmt = self.format
        if fmt == BINARY_SI:
            whole = _pow10_int(self.unscaled, self.exp)
            if whole is None or -1024 < whole < 1024:
                fmt = DECIMAL_SI
            else:
                return _binary_string(whole)
        return _decimal_string(self.unscaled, self.exp, fmt if fmt == DECIMAL_SI else DECIMAL_EXPONENT)

    def __str__(self) -> str:
        return self._cached if self._cached is not None else self.canonicalize()

    def __repr__(self) -> str:
        return f"Quantity({str(self)!r}, {self.format})"

    # -- arithmetic and comparison (value only; format follows Kubernetes' Add/Sub) --

    def _aligned(self, other: Quantity) -> tuple[int, int, int]:
        exp = min(self.exp, other.exp)
        return self.unscaled * 10 ** (self.exp - exp), other.unscaled * 10 ** (other.exp - exp), exp

    def __add__(self, other: Quantity) -> Quantity:
        a, b, exp = self._aligned(other)
        return Quantity(a + b, exp, other.format if self.is_zero() else self.format)

    def __sub__(self, other: Quantity) -> Quantity:
        a, b, exp = self._aligned(other)
        return Quantity(a - b, exp, other.format if self.is_zero() else self.format)

    def __neg__(self) -> Quantity:
        return Quantity(-self.unscaled, self.exp, self.format)

    def cmp(self, other: Quantity) -> int:
        a, b, _ = self._aligned(other)
        return (a > b) - (a < b)

    def __eq__(self, other: object) -> bool:
        return isinstance(other, Quantity) and self.cmp(other) == 0

    def __lt__(self, other: Quantity) -> bool:
        return self.cmp(other) < 0

    def __le__(self, other: Quantity) -> bool:
        return self.cmp(other) <= 0

    def __gt__(self, other: Quantity) -> bool:
        return self.cmp(other) > 0

    def __ge__(self, other: Quantity) -> bool:
        return self.cmp(other) >= 0

    def __hash__(self) -> int:
        return hash(_strip_zeros(self.unscaled, self.exp))


def _bound_binary(unscaled: int, exp: int) -> tuple[int, int, str]:
    """Cap binary values at 2^63-1 and show fractions below one as DecimalSI."""
    scale = 10**-exp  # exp is in [-9, 0] for binary values here
    if unscaled > _INT64_MAX * scale:
        return _INT64_MAX, 0, BINARY_SI
    if 0 < unscaled < scale:
        return unscaled, exp, DECIMAL_SI
    return unscaled, exp, BINARY_SI


def _decimal_string(unscaled: int, exp: int, fmt: str) -> str:
    """Mantissa with the largest exponent that is a multiple of 3, plus its suffix."""
    mag, exp = _strip_zeros(abs(unscaled), exp)
    while exp % 3:
        mag *= 10
        exp -= 1
    sign = "-" if unscaled < 0 else ""
    if fmt == DECIMAL_SI and exp in _DECIMAL_BY_EXP:
        return f"{sign}{mag}{_DECIMAL_BY_EXP[exp]}"
    # DecimalExponent, and DecimalSI beyond E or below n, which have no SI suffix.
    return f"{sign}{mag}" + (f"e{exp}" if exp else "")


def _binary_string(whole: int) -> str:
    mag, power = abs(whole), 0
    while mag % 1024 == 0:
        mag //= 1024
        power += 10
    if power not in _BINARY_BY_EXP and power:
        # Beyond Ei there is no binary suffix: fall back to an exact decimal form.
        return _decimal_string(whole, 0, DECIMAL_EXPONENT)
    return f"{'-' if whole < 0 else ''}{mag}{_BINARY_BY_EXP.get(power, '')}"


# --- convenience functions over strings ----------------------------------------------


@functools.lru_cache(maxsize=4096)
def parse(s: str) -> Quantity:
    """Parse (cached: quantities are immutable in practice and parsed often)."""
    return Quantity.parse(s)


def _as_quantity(q: str | Quantity) -> Quantity:
    return q if isinstance(q, Quantity) else parse(q)


def parse_quantity(s: str) -> Decimal:
    """The exact value of a quantity string; ValueError with Kubernetes' message."""
    return parse(s).amount


def canonical(s: str) -> str:
    """The string Kubernetes serializes for `s` (e.g. `1000m` -> `1`, `0.5` -> `500m`)."""
    return str(parse(s))


def milli_value(q: str | Quantity) -> int:
    return _as_quantity(q).milli_value()


def value(q: str | Quantity) -> int:
    return _as_quantity(q).value()


def is_valid(s: str) -> bool:
    try:
        parse(s)
    except ValueError:
        return False
    return True
