"""Quantity parsing at the boundary (DESIGN.md §2): SI floats out, UnitError on bad input."""

from __future__ import annotations

import pytest

from gpt4plan.specs.units import UnitError, parse_count, parse_quantity


@pytest.mark.parametrize(
    ("text", "dimension", "expected"),
    [
        ("80 GiB", "bytes", 80 * 2**30),  # GiB = 2^30 bytes
        ("40 GB", "bytes", 40e9),  # GB = 1e9 bytes
        ("3.35 TB/s", "bytes_per_s", 3.35e12),  # TB = 1e12 bytes
        ("989.4 TFLOP/s", "flops_per_s", 989.4e12),
        ("2.5 USD/h", "usd_per_hour", 2.5),  # prices stay in USD per hour
        ("500ms", "seconds", 500 * 1e-3),
        ("3 us", "seconds", 3 * 1e-6),
    ],
)
def test_parse_quantity_units(text, dimension, expected):
    assert parse_quantity(text, dimension) == pytest.approx(expected, rel=1e-12)


def test_400_gigabit_is_50_gigabyte_per_second():
    # The NIC rate people quote: 400 Gb/s = 400e9 bit/s / 8 bit per byte = 50e9 bytes/s
    # (DESIGN.md §2a hardware example; units.DIMENSIONS itself names '400 Gb/s' as a bandwidth).
    assert parse_quantity("400 Gb/s", "bytes_per_s") == pytest.approx(400e9 / 8, rel=1e-12)


@pytest.mark.parametrize("value", [1.63e14, "1.63e+14", "1.63e14", " 1.63e14 "])
def test_parse_quantity_bare_numbers_are_si(value):
    # PyYAML reads 1.63e14 as a string; it must still be the number 1.63e14 (FLOP/s)
    assert parse_quantity(value, "flops_per_s") == pytest.approx(1.63e14, rel=1e-12)


def test_parse_quantity_bare_int():
    assert parse_quantity(8, "bytes") == 8.0


@pytest.mark.parametrize(
    ("text", "dimension"),
    [
        ("80 TB/s", "bytes"),  # a bandwidth where a size is expected
        ("80 GiB", "bytes_per_s"),  # a size where a bandwidth is expected
        ("3 us", "bytes"),
        ("989 TFLOP/s", "bytes_per_s"),
        ("80 furlongs", "bytes"),
    ],
)
def test_parse_quantity_wrong_dimension(text, dimension):
    with pytest.raises(UnitError):
        parse_quantity(text, dimension)


@pytest.mark.parametrize("text", ["nan", "inf", "-inf", "NaN", "nan GB", "inf GB"])
def test_parse_quantity_rejects_non_finite(text):
    with pytest.raises(UnitError):
        parse_quantity(text, "bytes")


def test_parse_quantity_rejects_garbage_and_non_strings():
    with pytest.raises(UnitError):
        parse_quantity("eighty gigs of ram", "bytes")
    with pytest.raises(UnitError):
        parse_quantity([80], "bytes")
    with pytest.raises(UnitError):
        parse_quantity(None, "bytes")


def test_unit_error_is_value_error():
    assert issubclass(UnitError, ValueError)


@pytest.mark.parametrize(
    ("value", "expected"),
    [
        ("13T", 13 * 10**12),
        ("60M", 60 * 10**6),
        ("13e12", 13 * 10**12),
        (13e12, 13 * 10**12),
        ("1.5k", 1.5 * 10**3),
        (2048, 2048),
    ],
)
def test_parse_count(value, expected):
    assert parse_count(value) == pytest.approx(expected, rel=1e-12)


@pytest.mark.parametrize("value", ["nan", "inf", "abc", "13 furlongs", True, None])
def test_parse_count_rejects(value):
    with pytest.raises(UnitError):
        parse_count(value)


# ---------------------------------------------------------------------------------------------
# Bits: a link rate may be in bits, a memory size may not (issue 16, item 4)


@pytest.mark.parametrize(
    ("text", "suggestion", "word"),
    [
        ("80 Gb", "'80 GB'", "gigabits"),  # read as gigabits this was 80e9 / 8 = 10e9 bytes: 8x too small
        ("80 Gbit", "'80 GB'", "gigabits"),
        ("80 gigabit", "'80 GB'", "gigabits"),
        ("141 Gb", "'141 GB'", "gigabits"),
        ("10 Mb", "'10 MB'", "megabits"),
        ("1 Tibit", "'1 TiB'", "tebibits"),
        ("64 bit", "'64 B'", "bits"),
    ],
)
def test_bits_refused_for_a_memory_size(text, suggestion, word):
    with pytest.raises(UnitError) as info:
        parse_quantity(text, "bytes")
    msg = str(info.value)
    assert f"{text!r} is {word}; a memory size is in bytes" in msg
    assert f"did you mean {suggestion}?" in msg


@pytest.mark.parametrize(
    ("text", "expected"),
    [
        ("400 Gb/s", 400e9 / 8),  # 400e9 bit/s / 8 bit per byte = 50e9 B/s
        ("400 Gbit/s", 400e9 / 8),
        ("400 Gbps", 400e9 / 8),  # the NIC vendors' spelling
        ("200 Gb / s", 200e9 / 8),
        ("1200 GBps", 1200e9),  # Google's TPU docs write bandwidths as 'GBps' = GB/s
        ("100 Mb/s", 100e6 / 8),
    ],
)
def test_bits_accepted_for_a_bandwidth(text, expected):
    assert parse_quantity(text, "bytes_per_s") == pytest.approx(expected, rel=1e-12)


@pytest.mark.parametrize(
    ("text", "dimension", "contains"),
    [
        ("80 GB GB", "bytes", "has the wrong unit (gigabyte ** 2)"),  # pint: byte is dimensionless
        ("80 GB bit", "bytes", "has the wrong unit"),
        ("80 Gb/s", "bytes", "has the wrong unit"),  # a rate, not a size: no bits hint
        ("80 GB", "bytes_per_s", "has the wrong unit (a size, not per second)"),
        ("80 Gib", "bytes", "did you mean '80 GiB'?"),  # pint reads 'Gib' as gigagilbert
    ],
)
def test_byte_unit_checked_exactly_once(text, dimension, contains):
    with pytest.raises(UnitError) as info:
        parse_quantity(text, dimension)
    assert contains in str(info.value)


# ---------------------------------------------------------------------------------------------
# Messages say what is wrong in words, not pint's exception class (issue 16, item 12)


@pytest.mark.parametrize(
    ("text", "dimension", "contains"),
    [
        ("80 foo", "bytes", "unknown unit 'foo'"),
        ("3.35 zorks/s", "bytes_per_s", "unknown unit 'zorks'"),
        ("80 gb", "bytes", "unknown unit 'gb' (did you mean '80 GB'?)"),
        ("3 tb/s", "bytes_per_s", "unknown unit 'tb' (did you mean '3 TB/s'?)"),
        ("989 tflop/s", "flops_per_s", "did you mean '989 TFLOP/s'?"),
        ("(((", "bytes", "write one number and a unit (no arithmetic or brackets)"),
        ("80 GB +", "bytes", "write one number and a unit (no arithmetic or brackets)"),
    ],
)
def test_unit_messages_are_words(text, dimension, contains):
    with pytest.raises(UnitError) as info:
        parse_quantity(text, dimension)
    msg = str(info.value)
    assert contains in msg
    assert "Error" not in msg  # no UndefinedUnitError, TokenError, AssertionError...


@pytest.mark.parametrize("text, dimension", [
    ("9**9**9 ms", "seconds"),       # pint would evaluate it: a hang at 100% CPU (the break test)
    ("2**1000000 s", "seconds"),     # an OverflowError traceback
    ("80 GB + 1 GB", "bytes"),       # silently 81 GB
    ("1 s + 1 s", "seconds"),
    ("10**400 ms", "seconds"),
])
def test_arithmetic_is_refused_before_pint_evaluates_it(text, dimension):
    with pytest.raises(UnitError, match=r"write one number and a unit \(no arithmetic or brackets\)"):
        parse_quantity(text, dimension)


@pytest.mark.parametrize("text, dimension, si", [
    ("2.49 USD/hour", "usd_per_hour", 2.49),    # was 'unknown unit hourour'
    ("2.49 USD/hr", "usd_per_hour", 2.49),
    ("80 GBytes", "bytes", 80e9),               # was refused while '80 Gbytes' was read
    ("80 GByte", "bytes", 80e9),
    ("80 GiBytes", "bytes", 80 * 2**30),
])
def test_common_spellings_are_read(text, dimension, si):
    assert parse_quantity(text, dimension) == pytest.approx(si)


def test_common_units_read_without_pint_equal_pint():
    """The pint-free path for the catalog's spellings (a fast start) gives pint's value for every entry."""
    assert parse_quantity("10 us", "seconds") == 1e-05  # a divisor: no 9.999999999999999e-06
    from gpt4plan.specs import units

    for dimension, table in units._COMMON.items():
        for unit in table:
            text = f"3.35 {unit}"
            fast = units._parse_common(text, dimension)
            ureg = units._registry()
            cleaned = units._BPS_RE.sub(lambda m: f"{m.group(1)}{m.group(2)}/s", text)
            cleaned = units._BITS_RE.sub(lambda m: f"{m.group(1)}bit", cleaned)
            cleaned = cleaned.replace("/hr", "/hour").replace("/h", "/hour").replace("/hourour", "/hour")
            slow = float(ureg.Quantity(cleaned).to(units.DIMENSIONS[dimension][0]).magnitude)
            assert fast == pytest.approx(slow, rel=1e-12), (dimension, unit, fast, slow)
