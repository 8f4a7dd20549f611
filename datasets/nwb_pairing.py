"""Which stimulus series belongs to which current-clamp response in an NWB 2 file.

Used by :mod:`datasets.nwb`. The sources, most authoritative first:

1. the file's ``IntracellularRecordingsTable`` (``nwbfile.intracellular_recordings``,
   NWB >= 2.4 icephys tables): each row names a response, its stimulus (or none) and
   the sample range of each;
2. sweep numbers: the ``sweep_number`` of the series or, where a series lacks one,
   the deprecated ``SweepTable``; when several stimuli share the number, the one on
   the response's electrode;
3. names: the Allen/MIES convention ``data_00039_AD0`` <-> ``data_00039_DA0``;
4. a file (or the part of it the table does not cover) with exactly one response and
   one stimulus.

Anything else is *not* guessed (an older version paired series by their sorted
position and so could give a 0.1 nA response the 0.3 nA stimulus): the pair gets a
``problem`` text that :func:`datasets.nwb.load_nwb` raises as a ValueError.
"""

from __future__ import annotations

import re
from typing import Any, NamedTuple

__all__ = ["Pair", "find_pairs", "sweep_numbers"]

_TABLE = "IntracellularRecordingsTable"
_HOW_TO_FIX = (
    "Pass stimulus='<stimulus series name>' to load_nwb to choose one, or record the "
    f"pairs in the file's {_TABLE} (NWBFile.add_intracellular_recording)."
)


class Pair(NamedTuple):
    """A response series and what pairs it with a stimulus.

    ``resp_range``/``stim_range`` are ``(first sample, number of samples)`` from the
    ``IntracellularRecordingsTable``, or None for the whole series. ``paired_by`` is
    ``"intracellular_recordings"``, ``"sweep_number"``, ``"name"``, ``"only pair"``,
    ``"stimulus argument"``, ``"I=0 clamp"`` (no stimulus, zero current) or ``""``
    when no stimulus could be paired; ``problem`` then says why.
    """

    response: Any
    stimulus: Any | None
    paired_by: str
    problem: str | None = None
    resp_range: tuple[int, int] | None = None
    stim_range: tuple[int, int] | None = None


def _id(series) -> str:
    return series.object_id


def sweep_numbers(nwb) -> dict[str, int]:
    """``object_id -> sweep number`` of every series that has one (series attribute
    first, then the deprecated ``SweepTable``)."""
    out: dict[str, int] = {}
    table = getattr(nwb, "sweep_table", None)
    if table is not None:
        for k in range(len(table)):
            for series in table["series"][k]:
                out[_id(series)] = int(table["sweep_number"][k])
    for group in (nwb.acquisition, nwb.stimulus):
        for series in group.values():
            number = getattr(series, "sweep_number", None)
            if number is not None:
                out[_id(series)] = int(number)
    return out


def _reference(ref) -> tuple[Any, tuple[int, int]] | None:
    """``(series, (start, count))`` of a ``TimeSeriesReference``; None if unset."""
    if ref is None or ref.timeseries is None or ref.idx_start is None or ref.count is None:
        return None
    if int(ref.idx_start) < 0 or int(ref.count) < 0:
        return None
    return ref.timeseries, (int(ref.idx_start), int(ref.count))


def _table_rows(nwb) -> list[tuple[int, Any, Any]]:
    """``(row, response reference, stimulus reference)`` of the icephys table."""
    table = getattr(nwb, "intracellular_recordings", None)
    if table is None or len(table) == 0:
        return []
    categories = table.category_tables
    responses = categories["responses"]["response"]
    stimuli = categories["stimuli"]["stimulus"] if "stimuli" in categories else None
    rows = []
    for k in range(len(table)):
        stim = None if stimuli is None else _reference(stimuli[k])
        rows.append((k, _reference(responses[k]), stim))
    return rows


def _from_table(response, rows: list) -> Pair:
    from pynwb.icephys import CurrentClampStimulusSeries, IZeroClampSeries

    name = response.name
    if len(rows) > 1:
        which = [k for k, _, _ in rows]
        problem = (
            f"the response {name!r} is referenced by rows {which} of the {_TABLE}; one "
            "series holding several sweeps is not supported (split it into one series "
            "per sweep)."
        )
        return Pair(response, None, "", problem)
    k, (_, resp_range), stim = rows[0]
    if stim is None:
        if isinstance(response, IZeroClampSeries):
            return Pair(response, None, "I=0 clamp", resp_range=resp_range)
        problem = (
            f"row {k} of the {_TABLE} gives the response {name!r} no stimulus, so the "
            f"injected current is unknown. {_HOW_TO_FIX}"
        )
        return Pair(response, None, "", problem, resp_range)
    series, stim_range = stim
    if not isinstance(series, CurrentClampStimulusSeries):
        problem = (
            f"row {k} of the {_TABLE} pairs the response {name!r} with {series.name!r}, "
            f"a {type(series).__name__}, not a CurrentClampStimulusSeries."
        )
        return Pair(response, None, "", problem, resp_range)
    return Pair(response, series, "intracellular_recordings", None, resp_range, stim_range)


def _counterpart(name: str) -> str:
    """``data_00039_AD0`` -> ``data_00039_DA0`` (same channel)."""
    return re.sub(r"_AD(\d*)$", r"_DA\1", name, flags=re.IGNORECASE)


def _stem(name: str) -> str:
    return re.sub(r"_(AD|DA)\d*$", "", name, flags=re.IGNORECASE)


def _by_name(response, responses: list, candidates: list):
    exact = [s for s in candidates if s.name.lower() == _counterpart(response.name).lower()]
    if len(exact) == 1:
        return exact[0]
    stem = _stem(response.name)
    same = [s for s in candidates if _stem(s.name) == stem]
    if len(same) == 1 and sum(_stem(r.name) == stem for r in responses) == 1:
        return same[0]
    return None


def _by_number(response, stimuli: list, numbers: dict[str, int]) -> tuple[Any, list]:
    """The stimulus with the response's sweep number, or None and the candidates left."""
    number = numbers.get(_id(response))
    if number is None:
        return None, stimuli
    same = [s for s in stimuli if numbers.get(_id(s)) == number]
    if len(same) > 1:  # several channels in one sweep: the one on this electrode
        electrode = getattr(response.electrode, "name", None)
        same = [s for s in same if getattr(s.electrode, "name", None) == electrode] or same
    if len(same) == 1:
        return same[0], same
    return None, same or [s for s in stimuli if _id(s) not in numbers]


def _fallback(response, loose: list, free: list, numbers: dict[str, int]) -> Pair:
    """Pair a response that the icephys table does not mention."""
    from pynwb.icephys import IZeroClampSeries

    stim, candidates = _by_number(response, free, numbers)
    if stim is not None:
        return Pair(response, stim, "sweep_number")
    stim = _by_name(response, loose, candidates)
    if stim is not None:
        return Pair(response, stim, "name")
    if len(loose) == 1 and len(free) == 1 and candidates == free:
        return Pair(response, free[0], "only pair")
    if isinstance(response, IZeroClampSeries):
        return Pair(response, None, "I=0 clamp")
    return Pair(response, None, "", _ambiguity(response, free, numbers))


def _ambiguity(response, free: list, numbers: dict[str, int]) -> str:
    names = [s.name for s in free]
    if not free:
        return (
            f"the response {response.name!r} has no stimulus: the file has no "
            "CurrentClampStimulusSeries that another response does not already use."
        )
    number = numbers.get(_id(response))
    sharing = sum(numbers.get(_id(s)) == number for s in free)
    numbered = (
        "has no sweep_number"
        if number is None
        else f"has sweep_number {number}, which {sharing} of the candidate stimuli have"
    )
    return (
        f"cannot tell which stimulus belongs to the response {response.name!r}: the "
        f"file has no {_TABLE} row for it, it {numbered}, and no stimulus name matches "
        f"it (as in data_00039_AD0 <-> data_00039_DA0). Candidate stimuli: {names}. "
        f"{_HOW_TO_FIX}"
    )


def find_pairs(nwb, responses: list, stimuli: list) -> dict[str, Pair]:
    """``response name -> Pair`` for every current-clamp response of `nwb`."""
    rows = _table_rows(nwb)
    in_table: dict[str, list] = {}
    claimed = set()
    for k, resp, stim in rows:
        if resp is not None:
            in_table.setdefault(_id(resp[0]), []).append((k, resp, stim))
        if stim is not None:
            claimed.add(_id(stim[0]))
    numbers = sweep_numbers(nwb)
    loose = [r for r in responses if _id(r) not in in_table]
    free = [s for s in stimuli if _id(s) not in claimed]
    out = {}
    for response in responses:
        mine = in_table.get(_id(response))
        out[response.name] = (
            _from_table(response, mine) if mine else _fallback(response, loose, free, numbers)
        )
    return out
