"""Quantity parsing and formatting, checked against Kubernetes' own test tables
(k8s.io/apimachinery/pkg/api/resource quantity_test.go and quantity_golden_test.go)."""

from decimal import Decimal

import pytest

from kubeling.api import quantity as qty
from kubeling.api.quantity import BINARY_SI, DECIMAL_EXPONENT, DECIMAL_SI, Quantity


def dec(mantissa: int, exponent: int) -> Decimal:
    return Decimal(mantissa).scaleb(exponent)


MAX_INT64 = 2**63 - 1

# TestQuantityParse: input -> (exact value, format).
PARSE_TABLE = [
    ("0", dec(0, 0), DECIMAL_SI),
    ("0n", dec(0, 0), DECIMAL_SI),
    ("0m", dec(0, 0), DECIMAL_SI),
    ("0Ki", dec(0, 0), BINARY_SI),
    ("0k", dec(0, 0), DECIMAL_SI),
    ("0Mi", dec(0, 0), BINARY_SI),
    ("0Ti", dec(0, 0), BINARY_SI),
    ("1", dec(1, 0), DECIMAL_SI),
    ("1Ki", dec(1024, 0), BINARY_SI),
    ("8Ki", dec(8 * 1024, 0), BINARY_SI),
    ("7Mi", dec(7 * 1024**2, 0), BINARY_SI),
    ("6Gi", dec(6 * 1024**3, 0), BINARY_SI),
    ("5Ti", dec(5 * 1024**4, 0), BINARY_SI),
    ("4Pi", dec(4 * 1024**5, 0), BINARY_SI),
    ("3Ei", dec(3 * 1024**6, 0), BINARY_SI),
    ("100Ti", dec(100 * 1024**4, 0), BINARY_SI),
    ("5n", dec(5, -9), DECIMAL_SI),
    ("4u", dec(4, -6), DECIMAL_SI),
    ("3m", dec(3, -3), DECIMAL_SI),
    ("8k", dec(8, 3), DECIMAL_SI),
    ("50k", dec(5, 4), DECIMAL_SI),
    ("7M", dec(7, 6), DECIMAL_SI),
    ("6G", dec(6, 9), DECIMAL_SI),
    ("40T", dec(4, 13), DECIMAL_SI),
    ("2P", dec(2, 15), DECIMAL_SI),
    ("1E", dec(1, 18), DECIMAL_SI),
    ("1E-3", dec(1, -3), DECIMAL_EXPONENT),
    ("1e3", dec(1, 3), DECIMAL_EXPONENT),
    ("1E6", dec(1, 6), DECIMAL_EXPONENT),
    ("1e14", dec(1, 14), DECIMAL_EXPONENT),
    ("100.035k", dec(100035, 0), DECIMAL_SI),
    ("0.001", dec(1, -3), DECIMAL_SI),
    ("0.0005k", dec(5, -1), DECIMAL_SI),
    ("0.50000", dec(5, -1), DECIMAL_SI),
    ("0.5e-2", dec(5, -3), DECIMAL_EXPONENT),
    ("10.035M", dec(10035, 3), DECIMAL_SI),
    ("1.2e3", dec(12, 2), DECIMAL_EXPONENT),
    ("1.3E+6", dec(13, 5), DECIMAL_EXPONENT),
    ("1.53E12", dec(153, 10), DECIMAL_EXPONENT),
    ("1.7E18", dec(17, 17), DECIMAL_EXPONENT),
    ("7.123456M", dec(7123456, 0), DECIMAL_SI),
    ("6.987654321G", dec(6987654321, 0), DECIMAL_SI),
    ("1.01E", dec(101, 16), DECIMAL_SI),
    # Things that saturate/round.
    ("3.001n", dec(4, -9), DECIMAL_SI),
    ("1.1E-9", dec(2, -9), DECIMAL_EXPONENT),
    ("0.0000000001", dec(1, -9), DECIMAL_SI),
    ("0.5e-9", dec(1, -9), DECIMAL_EXPONENT),
    ("0.9n", dec(1, -9), DECIMAL_SI),
    ("0.00000012345", dec(124, -9), DECIMAL_SI),
    ("0.00000012354", dec(124, -9), DECIMAL_SI),
    ("9Ei", dec(MAX_INT64, 0), BINARY_SI),
    ("9223372036854775807Ki", dec(MAX_INT64, 0), BINARY_SI),
    ("12E", dec(12, 18), DECIMAL_SI),
    # Fractional binary.
    ("100.035Ki", dec(10243584, -2), BINARY_SI),
    ("0.5Mi", dec(512 * 1024, 0), BINARY_SI),
    ("0.05Gi", dec(536870912, -1), BINARY_SI),
    ("0.025Ti", dec(274877906944, -1), BINARY_SI),
    # "Things written by trolls".
    ("0.000000000001Ki", dec(2, -9), DECIMAL_SI),
    (".001", dec(1, -3), DECIMAL_SI),
    (".0001k", dec(100, -3), DECIMAL_SI),
    ("1.", dec(1, 0), DECIMAL_SI),
    ("1.G", dec(1, 9), DECIMAL_SI),
]


@pytest.mark.parametrize(("text", "amount", "fmt"), PARSE_TABLE)
def test_parse_value_and_format(text, amount, fmt):
    q = Quantity.parse(text)
    assert q.amount == amount
    assert q.format == fmt


@pytest.mark.parametrize(("text", "amount", "fmt"), PARSE_TABLE)
def test_parse_signed_variants(text, amount, fmt):
    # Kubernetes runs the same table with a leading "-" and with a leading "+".
    assert Quantity.parse("-" + text).amount == -amount
    assert Quantity.parse("-" + text).format == fmt
    assert Quantity.parse("+" + text).amount == amount


@pytest.mark.parametrize(("text", "message"), [
    ("", qty.ERR_FORMAT_WRONG),
    ("1.1.M", qty.ERR_FORMAT_WRONG),
    ("1+1.0M", qty.ERR_FORMAT_WRONG),
    ("0.1mi", qty.ERR_SUFFIX),
    ("0.1am", qty.ERR_FORMAT_WRONG),
    ("aoeu", qty.ERR_FORMAT_WRONG),
    (".5i", qty.ERR_SUFFIX),
    ("1i", qty.ERR_SUFFIX),
    ("-3.01i", qty.ERR_SUFFIX),
    ("-3.01e-", qty.ERR_SUFFIX),
    ("1e4294967297", qty.ERR_SUFFIX),  # exponent outside int32
    ("1E2147483648", qty.ERR_SUFFIX),
    (" 1", qty.ERR_FORMAT_WRONG),
    ("1 ", qty.ERR_FORMAT_WRONG),
    ("1e", qty.ERR_SUFFIX),
    ("1Gb", qty.ERR_FORMAT_WRONG),
])
def test_invalid_quantities_raise_kubernetes_messages(text, message):
    with pytest.raises(ValueError) as err:
        Quantity.parse(text)
    assert str(err.value) == message


def test_format_error_message_is_kubernetes_wording():
    assert qty.ERR_FORMAT_WRONG == (
        "quantities must match the regular expression '^([+-]?[0-9.]+)([eEinumkKMGTP]*[-+]?[0-9]*)$'")


# TestQuantityString: (mantissa, exponent, format) -> canonical, plus an alternate spelling.
STRING_TABLE = [
    (1024**3, 0, BINARY_SI, "1Gi", "1024Mi"),
    (300 * 1024**2, 0, BINARY_SI, "300Mi", "307200Ki"),
    (6 * 1024, 0, BINARY_SI, "6Ki", ""),
    (1001 * 1024**3, 0, BINARY_SI, "1001Gi", "1025024Mi"),
    (1024**4, 0, BINARY_SI, "1Ti", "1024Gi"),
    (5, 0, BINARY_SI, "5", "5000m"),
    (500, -3, BINARY_SI, "500m", "0.5"),
    (1, 9, DECIMAL_SI, "1G", "1000M"),
    (1000, 6, DECIMAL_SI, "1G", "0.001T"),
    (1, -3, DECIMAL_SI, "1m", "1000u"),
    (80, -3, DECIMAL_SI, "80m", ""),
    (1080, -3, DECIMAL_SI, "1080m", "1.08"),
    (108, -2, DECIMAL_SI, "1080m", "1080000000n"),
    (300, 6, DECIMAL_SI, "300M", ""),
    (1, 18, DECIMAL_SI, "1E", ""),
    (1, 21, DECIMAL_SI, "1e21", "1000E"),
    (5, 21, DECIMAL_SI, "5e21", "5000E"),
    (1, 24, DECIMAL_SI, "1e24", "1000000E"),
    (1, 70, BINARY_SI, "10e69", ""),
    (1, 72, BINARY_SI, "1e72", ""),
    (1234567, 6, DECIMAL_SI, "1234567M", ""),
    (1234567, -3, BINARY_SI, "1234567m", ""),
    (1025, 0, BINARY_SI, "1025", ""),
    (0, 0, DECIMAL_SI, "0", ""),
    (0, 0, BINARY_SI, "0", ""),
    (1, 9, DECIMAL_EXPONENT, "1e9", ".001e12"),
    (1, -3, DECIMAL_EXPONENT, "1e-3", "0.001e0"),
    (1, -9, DECIMAL_EXPONENT, "1e-9", "1000e-12"),
    (80, -3, DECIMAL_EXPONENT, "80e-3", ""),
    (300, 6, DECIMAL_EXPONENT, "300e6", ""),
    (0, 0, DECIMAL_EXPONENT, "0", "00"),
    (1, -9, DECIMAL_SI, "1n", ""),
    (10800, -10, DECIMAL_SI, "1080n", ""),
    (1080, -6, DECIMAL_SI, "1080u", ""),
    (1, -12, DECIMAL_SI, "1e-12", ""),  # TestQuantityStringBelowNano
    (1, -10, DECIMAL_SI, "100e-12", ""),
]


@pytest.mark.parametrize(("mantissa", "exponent", "fmt", "expect", "alternate"), STRING_TABLE)
def test_canonical_string(mantissa, exponent, fmt, expect, alternate):
    q = Quantity(mantissa, exponent, fmt)
    assert str(q) == expect
    if mantissa:
        assert str(-q) == "-" + expect
    if alternate:
        assert qty.canonical(alternate) == expect


# TestQuantityParseEmit plus the golden serialization corpus (String() after parse).
@pytest.mark.parametrize(("text", "expect"), [
    ("1Ki", "1Ki"), ("1Mi", "1Mi"), ("1Gi", "1Gi"), ("1024Mi", "1Gi"), ("1000M", "1G"),
    (".001Ki", "1024m"), (".000001Ki", "1024u"), (".000000001Ki", "1024n"), (".000000000001Ki", "2n"),
    ("1000m", "1"), ("0.5", "500m"), ("0.1", "100m"), ("1.5", "1500m"), ("1e3", "1e3"),
    ("0.000000000000001", "1n"), ("-1", "-1"),
    ("9223372036854775807", "9223372036854775807"), ("18446744073709551616", "18446744073709551616"),
    ("1E", "1E"), ("100E", "100E"), ("1000E", "1e21"), ("1e100", "10e99"),
    ("8Ei", "9223372036854775807"), ("-20Ei", "-9223372036854775807"),
    ("-9.5Gi", "-9728Mi"), ("-9.5000000001Gi", "-10200547328107374183n"),
    # The parse fast path keeps these inputs verbatim (Kubernetes #138165).
    ("1.441", "1.441"), ("1.000001", "1.000001"), ("1.000000001", "1.000000001"),
])
def test_parse_then_serialize(text, expect):
    assert qty.canonical(text) == expect
    if not expect.startswith("-") and expect != "0":
        assert qty.canonical("-" + text) == "-" + expect


@pytest.mark.parametrize(("text", "cached", "canonical"), [
    ("1.441", "1.441", "1441m"),
    ("1.000001", "1.000001", "1000001u"),
    ("+1", "+1", "1"),
    ("100m", "100m", "100m"),
])
def test_verbatim_input_is_dropped_by_arithmetic(text, cached, canonical):
    q = Quantity.parse(text)
    assert (str(q), q.canonicalize()) == (cached, canonical)
    assert str(q + Quantity.from_int(0)) == canonical


@pytest.mark.parametrize(("value", "fmt", "expect"), [
    # TestNewSet / TestMilliNewSet.
    (1, DECIMAL_SI, "1"), (1000, DECIMAL_SI, "1k"), (1234000, DECIMAL_SI, "1234k"),
    (1024, BINARY_SI, "1Ki"), (1000000, "invalidFormatDefaultsToExponent", "1e6"), (1024 * 1024, BINARY_SI, "1Mi"),
])
def test_from_int(value, fmt, expect):
    assert str(Quantity.from_int(value, fmt)) == expect


@pytest.mark.parametrize(("value", "fmt", "expect"), [
    (1, DECIMAL_SI, "1m"), (1000, DECIMAL_SI, "1"), (1234000, DECIMAL_SI, "1234"),
    (1024, BINARY_SI, "1024m"), (1000000, "invalidFormatDefaultsToExponent", "1e3"),
    (1024 * 1024, BINARY_SI, "1048576m"),
])
def test_from_milli(value, fmt, expect):
    assert str(Quantity.from_milli(value, fmt)) == expect


@pytest.mark.parametrize(("text", "value", "milli"), [
    ("1", 1, 1000), ("100m", 1, 100), ("1.5", 2, 1500), ("-1.5", -2, -1500),
    ("1n", 1, 1), ("0.1m", 1, 1), ("1Ki", 1024, 1024000), ("0", 0, 0), ("2.0001", 3, 2001),
    ("1E", 10**18, MAX_INT64),  # milli overflows int64: saturated
    ("1e2147483647", MAX_INT64, MAX_INT64),
])
def test_value_and_milli_value_round_away_from_zero(text, value, milli):
    assert qty.value(text) == value
    assert qty.milli_value(text) == milli
    assert qty.milli_value(Quantity.parse(text)) == milli


@pytest.mark.parametrize(("a", "b", "cmp"), [
    ("0", "0", 0), ("100m", "50m", 1), ("50m", "100m", -1), ("10000T", "100Gi", 1),
    ("1", "1000m", 0), ("1Ki", "1024", 0), ("1e3", "1k", 0),
])
def test_compare(a, b, cmp):
    qa, qb = Quantity.parse(a), Quantity.parse(b)
    assert qa.cmp(qb) == cmp
    assert qb.cmp(qa) == -cmp
    assert (qa == qb) is (cmp == 0)
    if cmp == 0:
        assert hash(qa) == hash(qb)


@pytest.mark.parametrize(("a", "b", "total", "difference"), [
    ("100m", "1Gi", "1073741824100m", "-1073741823900m"),
    ("0", "1Gi", "1Gi", "-1Gi"),  # a zero takes the other's format (TestQuantityAddZeroPreservesSuffix)
    ("1Gi", "0", "1Gi", "1Gi"),
    ("500m", "500m", "1", "0"),
])
def test_add_and_sub(a, b, total, difference):
    qa, qb = Quantity.parse(a), Quantity.parse(b)
    assert str(qa + qb) == total
    assert str(qa - qb) == difference


def test_parse_quantity_returns_exact_decimal():
    assert qty.parse_quantity("1.5Gi") == Decimal(3 * 2**29)
    assert qty.parse_quantity("250m") == Decimal("0.25")


@pytest.mark.parametrize(("raw", "expect"), [("1", "1"), (1, "1"), (0.5, "500m"), (" 2Gi ", "2Gi"), (2.0, "2")])
def test_from_json_accepts_strings_and_numbers(raw, expect):
    assert str(Quantity.from_json(raw)) == expect


@pytest.mark.parametrize("raw", [True, None, [], "x"])
def test_from_json_rejects_other_values(raw):
    with pytest.raises(ValueError):
        Quantity.from_json(raw)


def test_quantities_are_immutable():
    q = qty.parse("1Gi")
    with pytest.raises(AttributeError):
        q.unscaled = 1  # type: ignore[misc]
    assert qty.is_valid("1Gi") and not qty.is_valid("1GB")
