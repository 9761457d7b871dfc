"""The schema engine: tolerant parsing at the edge, generated messages, rules, unknown keys (docs/contract.md A7)."""

from __future__ import annotations

import pytest

from container_core.errors import AlgorithmError, UserError
from container_core.hyperparameters import (
    BOOLEAN,
    FLOAT,
    INT_LIST,
    INTEGER,
    STRING,
    Choices,
    Hyperparameter,
    Interval,
    Schema,
    parse_bool,
    parse_int,
    parse_int_list,
)


@pytest.mark.parametrize(("raw", "value"), [("5", 5), (" 7 ", 7), ("5.0", 5), (5, 5), (5.0, 5), ("1e3", 1000)])
def test_parse_int_accepts(raw, value) -> None:
    assert parse_int(raw) == value


@pytest.mark.parametrize("raw", ["5.5", "abc", "", True, "inf", "nan"])
def test_parse_int_rejects(raw) -> None:
    with pytest.raises(ValueError):
        parse_int(raw)


@pytest.mark.parametrize(("raw", "value"), [("True", True), ("true", True), ("FALSE", False), ("0", False), (True, True)])
def test_parse_bool_table(raw, value) -> None:
    assert parse_bool(raw) is value


def test_parse_bool_never_truthiness() -> None:
    with pytest.raises(ValueError):
        parse_bool("False-ish")


@pytest.mark.parametrize(("raw", "value"), [("[50, 25]", (50, 25)), ("50,25", (50, 25)), ("50", (50,)), ([3, 2], (3, 2))])
def test_parse_int_list(raw, value) -> None:
    assert parse_int_list(raw) == value


@pytest.mark.parametrize("raw", ["[]", "[a, b]", "__import__('os')"])
def test_parse_int_list_rejects(raw) -> None:
    with pytest.raises(ValueError):
        parse_int_list(raw)


def _rule(values: dict) -> None:
    if values["layers"] != "auto" and values["topics"] is not None and len(values["layers"]) > values["topics"]:
        raise UserError("Hyperparameter layers: more layers than topics")


def _crashing_rule(values: dict) -> None:
    raise ZeroDivisionError("oops")


SCHEMA = Schema(
    "demo",
    (
        Hyperparameter("topics", INTEGER, "number of topics", valid=Interval(2, 1000)),
        Hyperparameter("rate", FLOAT, "learning rate", default=0.001, valid=Interval(1e-6, 1.0)),
        Hyperparameter("norm", BOOLEAN, "batch norm", default=False),
        Hyperparameter("opt", STRING, "optimizer", default="adam", valid=Choices(("adam", "sgd")), case_insensitive=True),
        Hyperparameter("layers", INT_LIST, "layers", default="auto", valid=Interval(1, None), auto=True),
    ),
    (_rule,),
)


def test_validate_fills_defaults_and_parses_strings() -> None:
    values = SCHEMA.validate({"topics": "20", "norm": "True", "opt": "SGD", "layers": "[50, 25]"})
    assert values == {"topics": 20, "rate": 0.001, "norm": True, "opt": "sgd", "layers": (50, 25)}
    assert SCHEMA.validate({"topics": "2", "layers": "auto"})["layers"] == "auto"


@pytest.mark.parametrize(
    ("raw", "message"),
    [
        ({"topics": "1"}, "Hyperparameter topics: '1' is not in [2, 1000]"),
        ({"topics": "x"}, "Hyperparameter topics: 'x' is not an integer; expected int in [2, 1000]"),
        ({}, "Hyperparameter topics is required (number of topics; int in [2, 1000])"),
        ({"topics": "3", "rate": "2"}, "Hyperparameter rate: '2' is not in [1e-06, 1]"),
        ({"topics": "3", "opt": "rmsprop"}, "Hyperparameter opt: 'rmsprop' is not in {adam, sgd}"),
        ({"topics": "3", "layers": "[5, 0]"}, "Hyperparameter layers: '[5, 0]' (element 0) is not in [1, inf)"),
        ({"topics": "3", "topcis": "3"}, "Hyperparameter topcis is not a demo hyperparameter; did you mean topics?"),
        ({"topics": "3", "zzz": "3"}, "Hyperparameter zzz is not a demo hyperparameter; valid names: layers, norm"),
        ({"topics": "2", "layers": "5,4,3"}, "Hyperparameter layers: more layers than topics"),
    ],
)
def test_messages_come_from_the_declaration(raw, message) -> None:
    with pytest.raises(UserError) as caught:
        SCHEMA.validate(raw)
    assert str(caught.value).startswith(message)


def test_tuning_and_platform_keys_are_ignored() -> None:
    assert SCHEMA.validate({"topics": "3", "_tuning_objective_metric": "x", "sagemaker_program": "y"})["topics"] == 3


def test_a_crashing_rule_is_our_bug() -> None:
    schema = Schema("demo", SCHEMA.parameters, (_crashing_rule,))
    with pytest.raises(AlgorithmError, match="_crashing_rule"):
        schema.validate({"topics": "3"})


def test_duplicate_declarations_are_refused() -> None:
    with pytest.raises(AlgorithmError):
        Schema("demo", (SCHEMA.parameters[0], SCHEMA.parameters[0]))


def test_markdown_table_lists_every_parameter() -> None:
    table = SCHEMA.markdown_table()
    for name in SCHEMA.names:
        assert f"| `{name}` |" in table
    assert "| `topics` | yes | int in [2, 1000] | – |" in table
