from datetime import date

import pytest
from pydantic import TypeAdapter, ValidationError

from services.common.ids import (BIN, IIN, bin_problem, check_digit, iin_birth_date_sex, iin_problem,
                                 is_valid_iin, make_bin, make_iin)


def test_check_digit_first_weights():
    # 900101 3 1234 -> sum(d*w) with weights 1..11 = 85 -> 85 % 11 = 8
    assert check_digit("90010131234") == 8
    assert is_valid_iin("900101312348")


def test_check_digit_falls_back_to_second_weights():
    # Find 11 digits whose first sum is 10 mod 11: the second set of weights decides.
    first11 = next(f"9001013{n:04d}" for n in range(10000)
                   if sum(int(c) * w for c, w in zip(f"9001013{n:04d}", range(1, 12))) % 11 == 10)
    second = sum(int(c) * w for c, w in zip(first11, (3, 4, 5, 6, 7, 8, 9, 10, 11, 1, 2))) % 11
    assert check_digit(first11) == (None if second == 10 else second)


def test_number_with_ten_twice_has_no_valid_check_digit():
    bad = next(f"9001013{n:04d}" for n in range(10000) if check_digit(f"9001013{n:04d}") is None)
    assert all(iin_problem(bad + str(d)) for d in range(10))


@pytest.mark.parametrize("value,reason", [
    ("900101312349", "check digit"),
    ("90010131234", "12 digits"),
    ("9001013123a8", "12 digits"),
    ("٩٠٠١٠١٣١٢٣٤٨", "12 digits"),  # non-ASCII digits are not accepted
])
def test_invalid_iins_name_the_reason(value, reason):
    assert reason in iin_problem(value)


def test_birth_date_and_sex_from_iin():
    assert iin_birth_date_sex(make_iin(date(1990, 1, 1), "M", 1234)) == (date(1990, 1, 1), "M")
    assert iin_birth_date_sex(make_iin(date(2001, 12, 31), "F", 55) or make_iin(date(2001, 12, 31), "F", 56)) \
        == (date(2001, 12, 31), "F")


def test_iin_with_impossible_birth_date_is_invalid():
    first11 = "9002303" + "1234"  # 30 February
    cd = check_digit(first11)
    assert cd is not None and "birth date" in iin_problem(first11 + str(cd))


def test_pydantic_types_reject_bad_values():
    assert TypeAdapter(IIN).validate_python("900101312348") == "900101312348"
    with pytest.raises(ValidationError, match="check digit"):
        TypeAdapter(IIN).validate_python("900101312349")
    good_bin = next(b for b in (make_bin(date(2010, 5, 1), 4, n) for n in range(100)) if b)
    assert TypeAdapter(BIN).validate_python(good_bin) == good_bin
    assert bin_problem(good_bin[:11] + str((int(good_bin[11]) + 1) % 10)) == "BIN check digit is wrong"


def test_the_native_iin_rules_agree_with_the_birth_date_and_sex_python_reads():
    """The IIN check is native while registry and contributions read birth date and sex in Python,
    and financing's fold reads them natively for a person only visits have met: all three agree on
    every century, sex, impossible date and leap day."""
    import random

    from services.financing.projection import PersonState, fold

    rng = random.Random(17)
    # 29 February of 1800, 1900 (no leap days), 2000 and 1904 (leap days); then random digits
    leap_days = [f"000229{c}{n:04d}" for c in "123456" for n in range(20)] + [f"040229{c}0001" for c in "34"]
    valid = 0
    for i in range(20_000):
        first11 = leap_days[i] if i < len(leap_days) else (
            f"{rng.randrange(100):02d}{rng.randrange(0, 14):02d}{rng.randrange(0, 33):02d}"
            f"{rng.randrange(0, 9)}{rng.randrange(10_000):04d}")
        cd = check_digit(first11)
        value = first11 + str(cd if cd is not None else 0)
        try:
            born, sex = iin_birth_date_sex(value)
            python_valid = cd is not None
        except ValueError:
            python_valid = False
        assert (iin_problem(value) is None) == python_valid, value
        if python_valid:
            valid += 1
            state = fold(PersonState(), value, None, [], [])
            assert (state.birth, state.sex) == (born.toordinal(), sex), value
    assert valid > 5_000
