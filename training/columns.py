"""`Columns`: named numpy columns of equal length, the model input of scoring without pandas.

Serving scores one transaction (and a few occluded copies of it) per request. Building and
slicing pandas frames for that cost more than the arithmetic of the model itself, so the
scoring path reads plain arrays: `frame[name]` gives a 1-D numpy array, as
`np.asarray(dataframe[name])` would. Training keeps its DataFrames (`to_frame`).
"""

from __future__ import annotations

from collections.abc import Iterator, Mapping, Sequence
from typing import TYPE_CHECKING, Any, overload

import numpy as np

if TYPE_CHECKING:
    import pandas as pd

__all__ = ["Columns", "as_columns"]


class Columns:
    """Read-only named 1-D arrays of one length; `len` is the row count, as for a DataFrame.

    Args:
        columns: name -> values (anything `np.asarray` takes); order is kept.
        rows: the row count, needed only when there are no columns.

    Raises:
        ValueError: the columns differ in length, or one is not 1-D.
    """

    __slots__ = ("_data", "_rows")

    def __init__(self, columns: Mapping[str, Any], rows: int | None = None) -> None:
        data = {name: np.asarray(values) for name, values in columns.items()}
        lengths = {len(values) for values in data.values()}
        if any(values.ndim != 1 for values in data.values()) or len(lengths) > 1:
            shapes = {name: values.shape for name, values in data.items()}
            raise ValueError(f"columns must be 1-D and of one length, got {shapes}")
        self._data = data
        self._rows = lengths.pop() if lengths else (rows or 0)

    @property
    def columns(self) -> list[str]:
        """The column names, in order."""
        return list(self._data)

    @property
    def shape(self) -> tuple[int, int]:
        """(rows, columns)."""
        return self._rows, len(self._data)

    def __len__(self) -> int:
        """The row count."""
        return self._rows

    def __contains__(self, name: object) -> bool:
        """Whether a column of this name exists."""
        return name in self._data

    def __iter__(self) -> Iterator[str]:
        """The column names, as iterating a DataFrame gives them."""
        return iter(self._data)

    @overload
    def __getitem__(self, key: str) -> np.ndarray: ...

    @overload
    def __getitem__(self, key: list[str]) -> Columns: ...

    def __getitem__(self, key: str | list[str]) -> np.ndarray | Columns:
        """One column's array, or a `Columns` of a list of names."""
        if isinstance(key, str):
            return self._data[key]
        return Columns({name: self._data[name] for name in key}, self._rows)

    def to_numpy(self, dtype: Any = None) -> np.ndarray:
        """A (rows, columns) array, as `DataFrame.to_numpy(dtype)` gives."""
        if not self._data:
            return np.empty((self._rows, 0), dtype=dtype)
        return np.column_stack([np.asarray(v, dtype=dtype) for v in self._data.values()])

    def to_frame(self) -> pd.DataFrame:
        """The same columns as a DataFrame (for sklearn steps that need one)."""
        import pandas as pd  # noqa: PLC0415

        return pd.DataFrame(self._data, index=pd.RangeIndex(self._rows))

    def with_columns(self, columns: Mapping[str, Any]) -> Columns:
        """A copy with `columns` set: existing names keep their place, new ones follow."""
        return Columns({**self._data, **columns}, self._rows)

    def take(self, rows: Sequence[int] | np.ndarray) -> Columns:
        """The given rows, in the given order (repeats allowed)."""
        index = np.asarray(rows, dtype=np.intp)
        return Columns({name: values[index] for name, values in self._data.items()}, len(index))

    @staticmethod
    def concat(parts: Sequence[Columns]) -> Columns:
        """The rows of `parts` one after the other; every part has the first one's columns."""
        names = parts[0].columns
        return Columns(
            {name: np.concatenate([part[name] for part in parts]) for name in names},
            sum(len(part) for part in parts),
        )


def as_columns(frame: pd.DataFrame | Columns | Mapping[str, Any]) -> Columns:
    """`frame` as Columns: a DataFrame's columns become arrays, a mapping's values too."""
    if isinstance(frame, Columns):
        return frame
    if isinstance(frame, Mapping):
        return Columns(frame)
    # Extension types (nullable ints, tz-aware timestamps) come out as object arrays, which
    # `training.candidates.model_columns` coerces as it coerces a DataFrame's columns.
    return Columns({str(name): frame[name].to_numpy() for name in frame.columns}, len(frame))
