"""TorchServe's `model-config.yaml`: the keys `ModelConfig.java` reads, their types and values.

TorchServe ignores a value of the wrong type with a log warning and an unknown key silently, so a
typo (`batchsize: 8`) or a quoted number (`maxWorkers: "4"`) is only found in production. Here
they are findings. Parsing is safe YAML with aliases bounded as SnakeYAML bounds them (TorchServe's
parser), so an alias bomb is refused instead of expanded.
"""

from __future__ import annotations

import difflib
from collections.abc import Callable
from dataclasses import dataclass
from functools import cache
from typing import Any, Optional, TypeGuard

from .errors import Finding, Severity

#: A model-config.yaml larger than this is refused (real ones are a few hundred bytes).
MAX_CONFIG_SIZE = 1 << 20
#: SnakeYAML's default `maxAliasesForCollections`: TorchServe itself refuses more.
MAX_ALIASES = 50
#: Java's int range: larger values do not load as an int.
JAVA_INT_MAX = 2**31 - 1

INT_KEYS = (
    "minWorkers",
    "maxWorkers",
    "batchSize",
    "maxBatchDelay",
    "responseTimeout",
    "startupTimeout",
    "parallelLevel",
    "maxRetryTimeoutInSec",
    "clientTimeoutInMills",
    "jobQueueSize",
    "sequenceMaxIdleMSec",
    "sequenceTimeoutMSec",
    "maxSequenceJobQueueSize",
    "maxNumSequence",
)
#: The smallest value that makes sense for an int key (0 unless noted).
INT_MINIMUM = {
    "batchSize": 1,
    "responseTimeout": 1,
    "startupTimeout": 1,
    "parallelLevel": 1,
    "jobQueueSize": 1,
    "maxNumSequence": 1,
}
BOOL_KEYS = (
    "useJobTicket",
    "continuousBatching",
    "sequenceBatching",
    "asyncCommunication",
    "useVenv",
)
STR_CHOICES = {
    "deviceType": ("cpu", "gpu", "neuron"),
    "parallelType": ("pp", "tp", "pptp", "custom"),
}
LIST_INT_KEYS = ("deviceIds",)
MAP_KEYS = ("torchrun",)
KNOWN_KEYS = (*INT_KEYS, *BOOL_KEYS, *STR_CHOICES, *LIST_INT_KEYS, *MAP_KEYS)


class ConfigParseError(Exception):
    """The file is not YAML mararch accepts (the reason is the message)."""


@cache
def _bounded_loader() -> type[Any]:
    """A SafeLoader counting alias uses: a handful of aliases can expand to billions of nodes.
    (Built on first use: importing yaml costs every command ~20 ms, and most builds have no
    config file.)"""
    import yaml

    class BoundedLoader(yaml.SafeLoader):
        def __init__(self, stream: str) -> None:
            super().__init__(stream)
            self.aliases = 0

        def compose_node(self, parent: Any, index: Any) -> Any:
            if self.check_event(yaml.AliasEvent):
                self.aliases += 1
                if self.aliases > MAX_ALIASES:
                    raise ConfigParseError(
                        f"more than {MAX_ALIASES} YAML aliases (TorchServe's YAML parser refuses "
                        "them too; an alias bomb?)"
                    )
            return super().compose_node(parent, index)

    return BoundedLoader


def load(data: bytes) -> Any:
    """Parse a model-config.yaml's bytes safely; ConfigParseError says why it cannot be."""
    if len(data) > MAX_CONFIG_SIZE:
        raise ConfigParseError(f"{len(data)} bytes, more than the {MAX_CONFIG_SIZE} allowed")
    try:
        text = data.decode("utf-8")
    except UnicodeDecodeError:
        raise ConfigParseError("not UTF-8 text") from None
    import yaml

    loader = None
    try:
        # Building the loader checks the characters already: a NUL byte fails there.
        loader = _bounded_loader()(text)
        return loader.get_single_data()
    except yaml.YAMLError as exc:
        raise ConfigParseError(f"not valid YAML: {' '.join(str(exc).split())}") from None
    except RecursionError:
        raise ConfigParseError("nested too deeply") from None
    finally:
        if loader is not None:
            loader.dispose()


@dataclass(frozen=True)
class _Checker:
    member: str

    def finding(self, severity: Severity, code: str, message: str) -> Finding:
        return Finding(severity, code, message, self.member)


def type_name(value: object) -> str:
    """A YAML value's type in words: "an integer", "a string", "a list"."""
    return {bool: "a boolean", int: "an integer", float: "a number", str: "a string"}.get(
        type(value), f"a {type(value).__name__}"
    )


def is_int(value: object) -> TypeGuard[int]:
    """An integer, as Java reads one: YAML's booleans are not."""
    return isinstance(value, int) and not isinstance(value, bool)


#: A key's problem as (finding code, message), or None when TorchServe takes the value.
_Problem = Optional[tuple[str, str]]


def _wrong_type(key: str, value: object, expected: str) -> tuple[str, str]:
    shown = repr(value) if isinstance(value, (str, int, float, bool)) else type_name(value)
    return (
        "config-type",
        f"{key}: {shown} is {type_name(value)}, expected {expected} (TorchServe would ignore "
        "it and use its default)",
    )


def _check_int(key: str, value: object) -> _Problem:
    if not is_int(value):
        return _wrong_type(key, value, "an integer")
    low = INT_MINIMUM.get(key, 0)
    if not low <= value <= JAVA_INT_MAX:
        return "config-value", f"{key}: {value} is out of range, expected {low} to {JAVA_INT_MAX}"
    return None


def _check_bool(key: str, value: object) -> _Problem:
    return None if isinstance(value, bool) else _wrong_type(key, value, "true or false")


def _check_choice(key: str, value: object) -> _Problem:
    choices = ", ".join(STR_CHOICES[key])
    if not isinstance(value, str):
        return _wrong_type(key, value, f"one of {choices}")
    if value not in STR_CHOICES[key]:
        return "config-value", f"{key}: {value!r} is not one of {choices}"
    return None


def _check_int_list(key: str, value: object) -> _Problem:
    if isinstance(value, list) and all(is_int(v) and v >= 0 for v in value):
        return None
    return "config-type", f"{key}: expected a list of GPU numbers (integers from 0), e.g. [0, 1]"


def _check_map(key: str, value: object) -> _Problem:
    return None if isinstance(value, dict) else _wrong_type(key, value, "a mapping")


#: The check of each known key's value, by the key's type.
_KEY_CHECKS: dict[str, Callable[[str, object], _Problem]] = {
    **dict.fromkeys(INT_KEYS, _check_int),
    **dict.fromkeys(BOOL_KEYS, _check_bool),
    **dict.fromkeys(STR_CHOICES, _check_choice),
    **dict.fromkeys(LIST_INT_KEYS, _check_int_list),
    **dict.fromkeys(MAP_KEYS, _check_map),
}


def check(data: bytes, member: str) -> list[Finding]:
    """Every finding for a model-config.yaml's bytes (`member` names it in the findings)."""
    c = _Checker(member)
    try:
        doc = load(data)
    except ConfigParseError as exc:
        return [c.finding(Severity.ERROR, "config-invalid", f"cannot be read: {exc}")]
    if doc is None:
        return [c.finding(Severity.WARNING, "config-invalid", "is empty: it sets nothing")]
    if not isinstance(doc, dict):
        return [
            c.finding(
                Severity.ERROR,
                "config-invalid",
                f"holds {type_name(doc)}, expected a mapping of settings (key: value)",
            )
        ]
    out: list[Finding] = []
    for key, value in doc.items():
        if not isinstance(key, str):
            out.append(c.finding(Severity.ERROR, "config-invalid", f"key {key!r} is not a string"))
        elif key in KNOWN_KEYS:
            if (problem := _KEY_CHECKS[key](key, value)) is not None:
                out.append(c.finding(Severity.ERROR, *problem))
        else:
            out.append(_unknown(c, key, value))
    least, most = doc.get("minWorkers"), doc.get("maxWorkers")
    if is_int(least) and is_int(most) and least > most:
        out.append(
            c.finding(
                Severity.ERROR,
                "config-value",
                f"minWorkers ({least}) is larger than maxWorkers ({most})",
            )
        )
    return out


def _unknown(c: _Checker, key: str, value: object) -> Finding:
    lowered = {k.lower(): k for k in KNOWN_KEYS}
    match = lowered.get(key.lower().replace("_", "").replace("-", "")) or next(
        iter(difflib.get_close_matches(key, KNOWN_KEYS, n=1, cutoff=0.8)), None
    )
    if match is not None:
        return c.finding(
            Severity.WARNING,
            "config-unknown-key",
            f"unknown key {key!r}: did you mean {match!r}? TorchServe ignores unknown keys",
        )
    if isinstance(value, dict):
        # Sections such as `handler:` or `pippy:` are handed to the handler as they are.
        return c.finding(
            Severity.INFO,
            "config-section",
            f"section {key!r} is not a server setting; TorchServe passes it to the handler",
        )
    return c.finding(
        Severity.WARNING,
        "config-unknown-key",
        f"unknown key {key!r}: not a TorchServe setting, so the server ignores it "
        "(handler settings belong in a section, e.g. `handler:`)",
    )


__all__ = ["KNOWN_KEYS", "MAX_ALIASES", "ConfigParseError", "check", "load"]
