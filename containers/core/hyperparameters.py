"""The hyperparameter schema engine: declare each hyperparameter once, as data, and derive everything else.

SageMaker delivers hyperparameters as a JSON object of strings (docs/contract.md §3.2); SDK v1 sends ``str(value)``
(``"True"``, ``"[50, 25]"``) and the first-party classes send JSON. ``Schema.validate`` parses those tolerantly
(never with ``eval``), checks ranges, required keys and cross-field rules, and rejects unknown keys with the closest
valid name (A7). Every message is generated from the declaration, e.g.
``Hyperparameter num_topics: 1 is not in [2, 1000]``. The same declarations feed the SDK and the docs table.
"""

from __future__ import annotations

import difflib
import math
import re
from collections.abc import Callable, Iterable, Mapping, Sequence
from dataclasses import dataclass, field
from typing import Any

from container_core.errors import AlgorithmError, UserError

REQUIRED = object()
"""Sentinel default: the hyperparameter has no default and must be given."""

_TRUE = {"true", "1", "yes", "y", "t", "on"}
_FALSE = {"false", "0", "no", "n", "f", "off"}


@dataclass(frozen=True)
class Interval:
    """A closed (by default) numeric interval; ``None`` ends are unbounded."""

    low: float | None = None
    high: float | None = None
    low_open: bool = False
    high_open: bool = False

    def __contains__(self, value: float) -> bool:
        if self.low is not None and (value < self.low or (self.low_open and value == self.low)):
            return False
        return not (self.high is not None and (value > self.high or (self.high_open and value == self.high)))

    def __str__(self) -> str:
        lo = "(-inf" if self.low is None else ("(" if self.low_open else "[") + _fmt(self.low)
        hi = "inf)" if self.high is None else _fmt(self.high) + (")" if self.high_open else "]")
        return f"{lo}, {hi}"


@dataclass(frozen=True)
class Choices:
    """A finite set of allowed values."""

    values: tuple[Any, ...]

    def __contains__(self, value: Any) -> bool:
        return value in self.values

    def __str__(self) -> str:
        return "{" + ", ".join(str(v) for v in self.values) + "}"


def _fmt(number: float) -> str:
    if isinstance(number, float) and number.is_integer() and abs(number) < 1e15:
        return str(int(number))
    return repr(number) if isinstance(number, float) else str(number)


# --- parsers: raw (usually a string) -> typed value, raising ValueError with a short reason -----------------------


def parse_int(raw: Any) -> int:
    if isinstance(raw, bool):
        raise ValueError("is not an integer")
    if isinstance(raw, int):
        return raw
    if isinstance(raw, float):
        if raw.is_integer():
            return int(raw)
        raise ValueError("is not an integer")
    text = str(raw).strip()
    try:
        return int(text)
    except ValueError:
        pass
    try:
        number = float(text)
    except ValueError:
        raise ValueError("is not an integer") from None
    if math.isfinite(number) and number.is_integer():
        return int(number)
    raise ValueError("is not an integer")


def parse_float(raw: Any) -> float:
    if isinstance(raw, bool):
        raise ValueError("is not a number")
    try:
        number = float(str(raw).strip()) if not isinstance(raw, int | float) else float(raw)
    except ValueError:
        raise ValueError("is not a number") from None
    if math.isnan(number):
        raise ValueError("is not a number")
    return number


def parse_bool(raw: Any) -> bool:
    if isinstance(raw, bool):
        return raw
    text = str(raw).strip().lower()
    if text in _TRUE:
        return True
    if text in _FALSE:
        return False
    raise ValueError("is not a boolean (use true or false)")


def parse_str(raw: Any) -> str:
    return str(raw).strip()


def parse_int_list(raw: Any) -> tuple[int, ...]:
    """``[50, 25]``, ``"[50, 25]"``, ``"50,25"``, ``"50"`` -> ``(50, 25)``; an empty list is an error."""
    if isinstance(raw, list | tuple):
        items = list(raw)
    else:
        text = str(raw).strip()
        if text.startswith("[") and text.endswith("]"):
            text = text[1:-1]
        items = [part for part in re.split(r"[,\s]+", text) if part]
    if not items:
        raise ValueError("is an empty list")
    try:
        return tuple(parse_int(item) for item in items)
    except ValueError:
        raise ValueError("is not a list of integers") from None


@dataclass(frozen=True)
class Kind:
    """A value type: its parser and the noun used in messages and docs."""

    name: str
    parse: Callable[[Any], Any]


INTEGER = Kind("int", parse_int)
FLOAT = Kind("float", parse_float)
BOOLEAN = Kind("bool", parse_bool)
STRING = Kind("string", parse_str)
INT_LIST = Kind("list of int", parse_int_list)


@dataclass(frozen=True)
class Hyperparameter:
    """One declared hyperparameter.

    ``valid`` constrains the parsed value (for lists: every element). ``auto`` allows the literal string ``auto``,
    kept as ``"auto"`` for the algorithm to resolve. ``tunable`` is the range AWS recommends for tuning jobs.
    """

    name: str
    kind: Kind
    description: str
    default: Any = REQUIRED
    valid: Interval | Choices | None = None
    auto: bool = False
    tunable: Interval | Choices | None = None
    case_insensitive: bool = False

    @property
    def required(self) -> bool:
        return self.default is REQUIRED

    def describe_valid(self) -> str:
        parts = [self.kind.name]
        if self.valid is not None:
            parts.append(("elements in " if self.kind is INT_LIST else "in ") + str(self.valid))
        if self.auto:
            parts.append("or auto")
        return " ".join(parts)

    def parse(self, raw: Any) -> Any:
        """Parse and check one raw value; raises ``UserError`` naming this hyperparameter and the rule."""
        shown = raw if not isinstance(raw, str) else repr(raw)
        if self.auto and isinstance(raw, str) and raw.strip().lower() == "auto":
            return "auto"
        try:
            value = self.kind.parse(raw)
        except ValueError as error:
            raise UserError(f"Hyperparameter {self.name}: {shown} {error}; expected {self.describe_valid()}") from None
        if isinstance(self.valid, Choices) and self.case_insensitive and isinstance(value, str):
            for choice in self.valid.values:
                if isinstance(choice, str) and choice.lower() == value.lower():
                    value = choice
        if self.valid is not None:
            elements = value if isinstance(value, tuple) else (value,)
            for element in elements:
                if element not in self.valid:
                    where = "" if not isinstance(value, tuple) else f" (element {element!r})"
                    raise UserError(f"Hyperparameter {self.name}: {shown}{where} is not in {self.valid}")
        return value


Rule = Callable[[dict[str, Any]], None]
"""A cross-field rule: reads the parsed values (absent optional ones are ``None``), raises ``UserError``."""


@dataclass(frozen=True)
class Schema:
    """An algorithm's hyperparameters and cross-field rules."""

    algorithm: str
    parameters: tuple[Hyperparameter, ...]
    rules: tuple[Rule, ...] = field(default_factory=tuple)

    def __post_init__(self) -> None:
        names = [p.name for p in self.parameters]
        if len(names) != len(set(names)):
            raise AlgorithmError(f"{self.algorithm}: duplicate hyperparameter declaration")

    @property
    def names(self) -> tuple[str, ...]:
        return tuple(p.name for p in self.parameters)

    def __getitem__(self, name: str) -> Hyperparameter:
        for parameter in self.parameters:
            if parameter.name == name:
                return parameter
        raise KeyError(name)

    def validate(self, raw: Mapping[str, Any]) -> dict[str, Any]:
        """Parse ``raw`` (name -> string) into typed values; defaults filled, optional-absent as ``None``."""
        by_name = {p.name: p for p in self.parameters}
        for key in sorted(raw):
            if key.startswith("_") or key.startswith("sagemaker_") or key in by_name:
                continue
            close = difflib.get_close_matches(key, by_name, n=1, cutoff=0.6)
            hint = f"; did you mean {close[0]}?" if close else f"; valid names: {', '.join(sorted(by_name))}"
            raise UserError(f"Hyperparameter {key} is not a {self.algorithm} hyperparameter{hint}")
        values: dict[str, Any] = {}
        for parameter in self.parameters:
            given = raw.get(parameter.name)
            if given is None or (isinstance(given, str) and given.strip() == "" and parameter.kind is not STRING):
                if parameter.required:
                    raise UserError(
                        f"Hyperparameter {parameter.name} is required ({parameter.description}; "
                        f"{parameter.describe_valid()})"
                    )
                values[parameter.name] = parameter.default
            else:
                values[parameter.name] = parameter.parse(given)
        for rule in self.rules:
            try:
                rule(values)
            except UserError:
                raise
            except Exception as error:  # a rule that crashes is our bug, not the user's
                raise AlgorithmError(f"Hyperparameter rule {rule.__name__} failed: {error!r}") from error
        return values

    def markdown_table(self) -> str:
        """The docs table: name, required, type and valid values, default, description."""
        lines = ["| name | required | type / valid values | default | description |", "| --- | --- | --- | --- | --- |"]
        for p in self.parameters:
            default = "–" if p.required else ("none" if p.default is None else str(p.default))
            lines.append(
                f"| `{p.name}` | {'yes' if p.required else 'no'} | {p.describe_valid()} | {default} | {p.description} |"
            )
        return "\n".join(lines)


def closest(name: str, candidates: Iterable[str]) -> str | None:
    matches = difflib.get_close_matches(name, list(candidates), n=1, cutoff=0.6)
    return matches[0] if matches else None


def require_together(values: Mapping[str, Any], names: Sequence[str]) -> None:
    """Helper for rules: all of ``names`` are given, or none."""
    given = [n for n in names if values.get(n) is not None]
    if given and len(given) != len(names):
        missing = [n for n in names if n not in given]
        raise UserError(f"Hyperparameter {missing[0]} is required when {given[0]} is set")
