import pytest

from app.errors import InvalidNHSNumber
from app.nhs_number import check_digit, normalise, problem_with


@pytest.mark.parametrize("valid", ["9434765919", "943 476 5919", "9434765870", "4010232137"])
def test_valid_numbers_are_normalised_to_ten_digits(valid: str) -> None:
    assert normalise(valid) == valid.replace(" ", "")


def test_remainder_giving_eleven_means_check_digit_zero() -> None:
    # 943476587: weighted sum 308 = 28 * 11, so 11 - 0 = 11 and the check digit is 0.
    assert check_digit("943476587") == 0
    assert normalise("9434765870") == "9434765870"
    assert problem_with("9434765871") == "check digit is wrong"


def test_remainder_giving_ten_means_no_valid_number() -> None:
    # 123456789: weighted sum 210, 210 % 11 = 1, 11 - 1 = 10: no digit can be valid.
    assert check_digit("123456789") is None
    for last in "0123456789":
        assert problem_with("123456789" + last) is not None


@pytest.mark.parametrize(
    ("raw", "why"),
    [
        ("9434765918", "check digit is wrong"),
        ("943476591", "must be 10 digits"),
        ("94347659190", "must be 10 digits"),
        ("94347659l9", "must be 10 digits"),
        ("９４３４７６５９１９", "must be 10 digits"),  # full-width digits are not ASCII
        ("", "must be 10 digits"),
        ("9" * 25, "must be 10 digits"),
    ],
)
def test_invalid_numbers_say_why(raw: str, why: str) -> None:
    problem = problem_with(raw)
    assert problem is not None
    assert why in problem
    with pytest.raises(InvalidNHSNumber):
        normalise(raw)
