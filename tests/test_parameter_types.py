"""Parameter values against the spec's parameter types: what each type takes, in one sentence."""

from __future__ import annotations

import pytest

from mlops_bot.errors import UsageError, UserError
from mlops_bot.repo.parameter_needs import Declared, declared_parameters
from mlops_bot.repo.parameters import checked_value, merge_parameters


@pytest.mark.parametrize(("value", "expected"), [
    (3, "NUMBER_INTEGER"), (3, "NUMBER_DOUBLE"), (0.5, "NUMBER_DOUBLE"), ("a", "STRING"),
    (True, "BOOLEAN"), ([1, 2], "LIST"), ({"a": 1}, "STRUCT"), ("anything", "UNKNOWN"),
])
def test_values_of_their_type_are_taken_as_they_are(value, expected):
    assert checked_value("p", "mlops.yaml pipelines.p.parameters", "x", value, expected) == value


@pytest.mark.parametrize(("value", "expected"), [
    ("abc", "NUMBER_INTEGER"), (1.5, "NUMBER_INTEGER"), (True, "NUMBER_INTEGER"),
    (False, "NUMBER_DOUBLE"), (1, "BOOLEAN"), ("a", "LIST"), ([1], "STRUCT"), (3, "STRING"),
])
def test_values_of_another_type_are_refused_naming_parameter_type_and_value(value, expected):
    with pytest.raises(UserError) as raised:
        checked_value("p", "p/run.py", "x", value, expected)
    assert not isinstance(raised.value, UsageError)
    assert str(raised.value) == f"p/run.py sets x={value!r}: p's parameter x is {expected} (" \
        + str(raised.value).split(f"is {expected} (", 1)[1]
    assert str(raised.value).endswith(f"not {value!r}")


def test_a_param_option_for_text_is_text_and_a_wrong_one_is_a_usage_error():
    assert checked_value("p", "--param", "tag", 2024, "STRING") == "2024"
    assert checked_value("p", "--param", "flag", True, "STRING") == "true"
    with pytest.raises(UsageError, match=r"^--param n=abc: p's parameter n is NUMBER_INTEGER "
                       r"\(a whole number\), not 'abc'$"):
        merge_parameters("p", {"n": None}, ("--param", {"n": "abc"}),
                         types={"n": "NUMBER_INTEGER"})


def test_the_signature_says_types_and_which_parameters_have_no_default():
    source = ("import typing\nfrom kfp import dsl\n\n@dsl.pipeline\ndef p(a: int, b: float = 1, "
              "*, c: typing.List[str], d: dict = {}, e: 'Alias' = 1, f: bool = False):\n    pass\n")
    assert declared_parameters(source, "d.py") == [
        Declared("a", "NUMBER_INTEGER", False), Declared("b", "NUMBER_DOUBLE", True),
        Declared("c", "LIST", False), Declared("d", "STRUCT", True),
        Declared("f", "BOOLEAN", True)]
