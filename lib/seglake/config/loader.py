"""Load `conf/base.yml` + `conf/<env>.yml` (+ command-line overrides) into `SeglakeConfig`.

Errors name the file, the key path and what was expected, in one line, because a user
editing YAML needs to know exactly where to look, not a traceback.
"""

from __future__ import annotations

import dataclasses
import difflib
import os
import re
import types
import typing
from collections.abc import Mapping
from pathlib import Path
from typing import Any, Literal, Union

import yaml

from seglake.config.schema import SeglakeConfig
from seglake.errors import ConfigError

BASE_FILE = "base.yml"
_ENV_REF = re.compile(r"\$\{([A-Za-z_][A-Za-z0-9_]*)(?::-(.*?))?\}")

KeyPath = tuple[str, ...]


def default_conf_dir() -> Path:
    """Where the YAML lives: $SEGLAKE_CONF_DIR, ./conf, or the repository's conf/."""
    explicit = os.environ.get("SEGLAKE_CONF_DIR")
    if explicit:
        return Path(explicit)
    cwd_conf = Path.cwd() / "conf"
    if (cwd_conf / BASE_FILE).is_file():
        return cwd_conf
    return Path(__file__).resolve().parents[3] / "conf"


def available_envs(conf_dir: Path) -> list[str]:
    return sorted(p.stem for p in conf_dir.glob("*.yml") if p.name != BASE_FILE)


def load_config(
    env: str,
    conf_dir: str | Path | None = None,
    overrides: Mapping[str, Any] | None = None,
) -> SeglakeConfig:
    """Merge base, environment overlay and overrides (dotted keys), then validate.

    `overrides` values that are None are ignored, so argparse namespaces can be passed
    through without filtering.
    """
    conf_dir = Path(conf_dir) if conf_dir else default_conf_dir()
    base_path = conf_dir / BASE_FILE
    if not base_path.is_file():
        raise ConfigError(
            f"{base_path}: configuration not found; pass --conf-dir or set SEGLAKE_CONF_DIR "
            "to the folder holding base.yml"
        )
    envs = available_envs(conf_dir)
    if env not in envs:
        hint = _suggest(env, envs)
        raise ConfigError(f"unknown environment '{env}'{hint}; choose one of: {', '.join(envs)} (files in {conf_dir})")

    merged: dict[str, Any] = {}
    origins: dict[KeyPath, str] = {}
    for path in (base_path, conf_dir / f"{env}.yml"):
        _merge(merged, _read_yaml(path), str(path), (), origins)
    for dotted, value in (overrides or {}).items():
        if value is None:
            continue
        keys = tuple(dotted.split("."))
        _merge(merged, _nest(keys, value), f"override {dotted}", (), origins)

    merged["env"] = env
    origins[("env",)] = "--env"
    return _build(SeglakeConfig, merged, (), origins)


def _read_yaml(path: Path) -> dict[str, Any]:
    try:
        text = path.read_text(encoding="utf-8")
        data = yaml.safe_load(text)
    except yaml.YAMLError as exc:
        mark = getattr(exc, "problem_mark", None)
        where = f" line {mark.line + 1}, column {mark.column + 1}" if mark else ""
        problem = getattr(exc, "problem", None) or str(exc).splitlines()[0]
        raise ConfigError(f"{path}:{where}: invalid YAML: {problem}") from None
    except OSError as exc:
        raise ConfigError(f"{path}: cannot read: {exc.strerror}") from None
    if data is None:
        return {}
    if not isinstance(data, dict):
        raise ConfigError(f"{path}: expected a mapping of keys at the top level")
    return data


def _nest(keys: KeyPath, value: Any) -> dict[str, Any]:
    out: Any = value
    for key in reversed(keys):
        out = {key: out}
    return out


def _merge(
    into: dict[str, Any],
    new: Mapping[str, Any],
    origin: str,
    prefix: KeyPath,
    origins: dict[KeyPath, str],
) -> None:
    """Deep-merge mappings; lists and scalars from later files replace earlier ones."""
    for key, value in new.items():
        if not isinstance(key, str):
            raise ConfigError(f"{origin}: {_dotted(prefix) or 'top level'}: key {key!r} is not a string")
        path = prefix + (key,)
        if isinstance(value, Mapping) and isinstance(into.get(key), dict):
            _merge(into[key], value, origin, path, origins)
            continue
        into[key] = _copy_tree(value)
        _record_origins(value, origin, path, origins)


def _copy_tree(value: Any) -> Any:
    if isinstance(value, Mapping):
        return {k: _copy_tree(v) for k, v in value.items()}
    if isinstance(value, list):
        return [_copy_tree(v) for v in value]
    return value


def _record_origins(value: Any, origin: str, path: KeyPath, origins: dict[KeyPath, str]) -> None:
    origins[path] = origin
    if isinstance(value, Mapping):
        for k, v in value.items():
            _record_origins(v, origin, path + (str(k),), origins)


def _dotted(path: KeyPath) -> str:
    return ".".join(path)


def _suggest(word: str, choices: typing.Iterable[str]) -> str:
    close = difflib.get_close_matches(word, list(choices), n=1, cutoff=0.6)
    return f" (did you mean '{close[0]}'?)" if close else ""


def _where(path: KeyPath, origins: dict[KeyPath, str]) -> str:
    for end in range(len(path), 0, -1):
        if path[:end] in origins:
            return f"{origins[path[:end]]}: {_dotted(path)}"
    return f"configuration: {_dotted(path)}"


def _interpolate(value: str, path: KeyPath, origins: dict[KeyPath, str]) -> Any:
    """Replace ${VAR} / ${VAR:-default}. A value that is one reference is re-typed by YAML
    rules, so `shuffle_partitions: ${PARTS:-8}` still yields an integer."""

    def replace(match: re.Match[str]) -> str:
        name, default = match.group(1), match.group(2)
        found = os.environ.get(name)
        if found not in (None, ""):
            return found
        if default is not None:
            return default
        raise ConfigError(
            f"{_where(path, origins)}: environment variable {name} is not set "
            f"(export it, or write ${{{name}:-default}})"
        )

    replaced = _ENV_REF.sub(replace, value)
    if _ENV_REF.fullmatch(value.strip()):
        try:
            return yaml.safe_load(replaced) if replaced.strip() else None
        except yaml.YAMLError:
            return replaced
    return replaced


_TYPE_NAMES = {str: "a string", int: "an integer", float: "a number", bool: "true or false"}


def _describe(tp: Any) -> str:
    origin = typing.get_origin(tp)
    if dataclasses.is_dataclass(tp):
        return "a mapping"
    if origin is list:
        return f"a list of {_describe(typing.get_args(tp)[0]).removeprefix('a ').removeprefix('an ')}s"
    if origin is dict:
        return "a mapping"
    if origin is Literal:
        return "one of " + ", ".join(repr(a) for a in typing.get_args(tp))
    if origin in (Union, types.UnionType):
        return " or ".join(_describe(a) for a in typing.get_args(tp) if a is not type(None))
    return _TYPE_NAMES.get(tp, getattr(tp, "__name__", str(tp)))


def _build(tp: Any, value: Any, path: KeyPath, origins: dict[KeyPath, str]) -> Any:
    if isinstance(value, str):
        value = _interpolate(value, path, origins)

    origin = typing.get_origin(tp)
    if origin in (Union, types.UnionType):
        args = typing.get_args(tp)
        if value is None and type(None) in args:
            return None
        (inner,) = [a for a in args if a is not type(None)]
        return _build(inner, value, path, origins)

    def wrong() -> ConfigError:
        return ConfigError(f"{_where(path, origins)}: expected {_describe(tp)}, got {value!r}")

    if dataclasses.is_dataclass(tp):
        if not isinstance(value, Mapping):
            raise wrong()
        return _build_dataclass(tp, value, path, origins)
    if origin is list:
        if not isinstance(value, list):
            raise wrong()
        (item,) = typing.get_args(tp)
        return [_build(item, v, path + (str(i),), origins) for i, v in enumerate(value)]
    if origin is dict:
        if not isinstance(value, Mapping):
            raise wrong()
        _, value_type = typing.get_args(tp)
        if value_type is str:
            # Spark and reader options are strings; YAML turns `true`/`8` into other types.
            return {
                str(k): _scalar_to_str(_build_scalar_any(v, path + (str(k),), origins), path + (str(k),), origins)
                for k, v in value.items()
            }
        return {str(k): _build(value_type, v, path + (str(k),), origins) for k, v in value.items()}
    if origin is Literal:
        if value not in typing.get_args(tp):
            raise ConfigError(
                f"{_where(path, origins)}: expected {_describe(tp)}, got {value!r}"
                f"{_suggest(str(value), [str(a) for a in typing.get_args(tp)])}"
            )
        return value
    if tp is bool:
        if not isinstance(value, bool):
            raise wrong()
        return value
    if tp is int:
        if isinstance(value, bool) or not isinstance(value, int):
            raise wrong()
        return value
    if tp is float:
        if isinstance(value, bool) or not isinstance(value, (int, float)):
            raise wrong()
        return float(value)
    if tp is str:
        if not isinstance(value, str):
            raise wrong()
        return value
    raise TypeError(f"unsupported config type {tp!r} at {_dotted(path)}")


def _build_scalar_any(value: Any, path: KeyPath, origins: dict[KeyPath, str]) -> Any:
    return _interpolate(value, path, origins) if isinstance(value, str) else value


def _scalar_to_str(value: Any, path: KeyPath, origins: dict[KeyPath, str]) -> str:
    if isinstance(value, bool):
        return "true" if value else "false"
    if isinstance(value, (str, int, float)):
        return str(value)
    raise ConfigError(f"{_where(path, origins)}: expected a single value, got {value!r}")


def _build_dataclass(cls: Any, data: Mapping[str, Any], path: KeyPath, origins: dict[KeyPath, str]) -> Any:
    fields = {f.name: f for f in dataclasses.fields(cls)}
    hints = typing.get_type_hints(cls)
    for key in data:
        if key not in fields:
            raise ConfigError(
                f"{_where(path + (str(key),), origins)}: unknown key"
                f"{_suggest(str(key), fields)}; valid keys here: {', '.join(fields)}"
            )
    kwargs = {}
    for name, f in fields.items():
        if name in data:
            kwargs[name] = _build(hints[name], data[name], path + (name,), origins)
        elif f.default is dataclasses.MISSING and f.default_factory is dataclasses.MISSING:
            where = _where(path, origins) if path else "configuration"
            raise ConfigError(f"{where}: missing required key '{_dotted(path + (name,))}' ({_describe(hints[name])})")
    return cls(**kwargs)
