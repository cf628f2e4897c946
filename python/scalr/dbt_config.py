"""Read vars that reach dbt Python models through their YAML ``config:`` (dbt-duckdb Python models
cannot call ``dbt.var``). YAML like ``synthetic_k: "{{ var('synthetic_k') }}"`` renders to text, so
values are parsed back here: ``"3"`` -> 3, ``"None"``/``"null"``/``""`` -> None, ``"['a']"`` -> ['a']."""
from __future__ import annotations

import ast
from typing import Any


def parse_value(raw: Any) -> Any:
    if not isinstance(raw, str):
        return raw
    text = raw.strip()
    if text.lower() in ("", "none", "null", "~"):
        return None
    if text.lower() in ("true", "false"):
        return text.lower() == "true"
    try:
        return ast.literal_eval(text)
    except (ValueError, SyntaxError):
        return text


class ModelConfig:
    """``cfg = ModelConfig({"synthetic_k": dbt.config.get("synthetic_k")}, "synthetic_events")``.

    dbt finds the config keys a Python model uses by reading its source for literal
    ``dbt.config.get("name")`` calls, so the model must spell each one out; this class only parses."""

    def __init__(self, raw: dict[str, Any], model: str = "model"):
        if not isinstance(raw, dict):
            raise TypeError("ModelConfig takes a dict of literal dbt.config.get('name') calls: dbt only "
                            "passes config keys that the model's source names literally")
        self._raw, self._model = raw, model

    def get(self, name: str, default: Any = None, cast: type | None = None, min_value: float | None = None) -> Any:
        value = parse_value(self._raw.get(name))
        if value is None:
            return default
        if cast is None:
            return value
        try:
            out = cast(value)
        except (TypeError, ValueError) as exc:
            raise ValueError(f"scalr config error in model {self._model}: var {name}={value!r} "
                             f"is not a valid {cast.__name__}") from exc
        if min_value is not None and out < min_value:
            raise ValueError(f"scalr config error in model {self._model}: var {name}={value!r} "
                             f"is below its minimum {min_value}")
        return out

    def get_list(self, name: str, default: list | None = None) -> list:
        value = self.get(name, default)
        if value is None:
            return []
        if isinstance(value, str):
            return [v.strip() for v in value.split(",") if v.strip()]
        return list(value)


def arrow_of(session: Any, relation: Any, order_by: str | None = None):
    """A dbt ref (DuckDB relation) as a pyarrow Table, optionally read in a fixed row order (tables
    built by parallel inserts have no stored order; anything that consumes randomness in row order
    must read them sorted)."""
    rel = session.sql(f"select * from ({relation.sql_query()}) order by {order_by}") if order_by else relation
    t = rel.arrow()
    return t.read_all() if hasattr(t, "read_all") else t


def pandas_of(session: Any, relation: Any, order_by: str | None = None):
    """As arrow_of, converted to pandas."""
    return arrow_of(session, relation, order_by).to_pandas()
