"""What every rule sees: the flat export as raw strings, split per form once and cached."""

from __future__ import annotations

from functools import cached_property
from typing import Any

import pandas as pd

from sgbm_redcap.dictionary.missing import MissingCodes, accepts_missing_codes
from sgbm_redcap.dictionary.project import study_project

_DATE_FORMAT = "%Y-%m-%d"


class CheckContext:
    """The data of one check run.

    ``raw`` is a flat REDCap export of raw strings ('' for blank). ``dictionary`` is optional:
    the study rules only need ``raw``; the generic dictionary rules are skipped without it.
    ``cutoff`` is the data cut-off (default today): the reference date of the rules that
    depend on time ("no contact for more than 90 days", "date in the future").
    """

    def __init__(
        self,
        raw: pd.DataFrame,
        dictionary: Any | None = None,
        *,
        cutoff: Any = None,
        repeating_forms: set[str] | frozenset[str] | None = None,
        missing_codes: MissingCodes | None = None,
    ) -> None:
        self.raw = raw
        self.dictionary = dictionary
        self.cutoff = pd.Timestamp(cutoff if cutoff is not None else pd.Timestamp.today()
                                   ).normalize()
        self.record_id = (dictionary.record_id if dictionary is not None
                          else ("record_id" if "record_id" in raw.columns else raw.columns[0]))
        found = set()
        if "redcap_repeat_instrument" in raw.columns:
            found = {x for x in raw["redcap_repeat_instrument"].dropna().unique() if x}
        # default: the study project's repeating instruments (project.toml)
        self.repeating_forms = set(repeating_forms or study_project().repeating_forms) | found
        #: the project's missing data codes (default: the study's, project.toml): a code is
        #: a value (not blank for DQ-B) that no validation or choice rule judges
        self.missing_codes = (study_project().missing_codes if missing_codes is None
                              else missing_codes)
        self._forms: dict[str, pd.DataFrame] = {}
        self._text: dict[tuple[str, str], pd.Series] = {}
        self._typed: dict[tuple[str, str, str], pd.Series] = {}
        #: scratch space for rules that share derived data (branching visibility, ...)
        self.cache: dict[str, object] = {}

    # -- rows -------------------------------------------------------------------------------
    def is_repeating(self, form: str) -> bool:
        return form in self.repeating_forms

    @cached_property
    def _instrument(self) -> pd.Series:
        if "redcap_repeat_instrument" not in self.raw.columns:
            return pd.Series("", index=self.raw.index)
        return self.raw["redcap_repeat_instrument"].fillna("").astype(str)

    @cached_property
    def base(self) -> pd.DataFrame:
        """One row per record: the non-repeating row, ``instance`` 0, ``dag`` filled."""
        cols = self._columns_of(lambda form: not self.is_repeating(form))
        rows = self.raw.loc[(self._instrument == "").to_numpy(), cols]
        out = rows.drop_duplicates(subset=[self.record_id], keep="first")
        out["record_id"] = out[self.record_id].astype(str)
        out["instance"] = 0
        out["dag"] = self._dag_column(out)
        # every record has a base row in REDCap's export; add the missing ones (hand-made data)
        missing = set(self.raw[self.record_id].astype(str)) - set(out["record_id"])
        if missing:
            extra = pd.DataFrame({"record_id": sorted(missing)})
            extra[self.record_id] = extra["record_id"]
            extra["instance"] = 0
            out = pd.concat([out, extra], ignore_index=True)
            out = out.fillna("")
        return out.reset_index(drop=True)

    _KEYS = ("redcap_repeat_instrument", "redcap_repeat_instance", "redcap_data_access_group")

    def _columns_of(self, wanted) -> list[str]:  # type: ignore[no-untyped-def]
        """The raw columns of the forms ``wanted(form)`` accepts, with the key columns; all
        columns when there is no dictionary. Copying only these keeps memory down."""
        if self.dictionary is None:
            return list(self.raw.columns)
        by_form = self._form_columns
        keep = {self.record_id, *self._KEYS}
        for form, cols in by_form.items():
            if wanted(form):
                keep.update(cols)
        return [c for c in self.raw.columns if c in keep]

    @cached_property
    def _form_columns(self) -> dict[str, list[str]]:
        present = set(self.raw.columns)
        checkbox_cols: dict[str, list[str]] = {}
        for c in self.raw.columns:
            if "___" in c:
                checkbox_cols.setdefault(c.split("___", 1)[0], []).append(c)
        out: dict[str, list[str]] = {}
        for f in self.dictionary.fields:
            cols = out.setdefault(f.form, [])
            if f.field_type == "checkbox":
                cols += checkbox_cols.get(f.name, [])
            elif f.name in present:
                cols.append(f.name)
        for form, cols in out.items():
            if f"{form}_complete" in present:
                cols.append(f"{form}_complete")
        return out

    def _dag_column(self, rows: pd.DataFrame) -> pd.Series:
        if "redcap_data_access_group" in rows.columns:
            return rows["redcap_data_access_group"].fillna("").astype(str)
        return pd.Series("", index=rows.index)

    @cached_property
    def dag_of(self) -> dict[str, str]:
        b = self.base
        return dict(zip(b["record_id"], b["dag"].fillna(""), strict=True))

    def form_rows(self, form: str) -> pd.DataFrame:
        """The rows holding ``form``: the base rows for a non-repeating form, else the
        instances of the form (``instance`` as int)."""
        if form in self._forms:
            return self._forms[form]
        if not self.is_repeating(form):
            rows = self.base
        else:
            cols = self._columns_of(lambda f: f == form)
            rows = self.raw.loc[(self._instrument == form).to_numpy(), cols]
            rows["record_id"] = rows[self.record_id].astype(str)
            inst = pd.to_numeric(rows.get("redcap_repeat_instance", pd.Series(dtype=str)),
                                 errors="coerce")
            rows["instance"] = inst.fillna(0).astype(int).to_numpy()
            rows["dag"] = rows["record_id"].map(self.dag_of).fillna("")
            rows = rows.reset_index(drop=True)
        self._forms[form] = rows
        return rows

    # -- typed views of one column ---------------------------------------------------------
    def text(self, form: str, field: str) -> pd.Series:
        """The column as stripped strings ('' for blank); cached, do not modify."""
        key = (form, field)
        if key not in self._text:
            rows = self.form_rows(form)
            if field not in rows.columns:
                self._text[key] = pd.Series("", index=rows.index, dtype=object)
            else:
                col = rows[field]
                if col.dtype != object or col.hasnans:
                    col = col.fillna("").astype(str)
                self._text[key] = col  # REDCap trims values on save and import
        return self._text[key]

    def coded(self, form: str, field: str) -> pd.Series:
        """True where the field holds one of the project's missing data codes and takes
        codes (``dictionary.missing``'s rule; never without a dictionary); cached."""
        key = ("coded", form, field)
        if key not in self._typed:
            text = self.text(form, field)
            f = self.dictionary.get(field) if self.dictionary is not None else None
            if not self.missing_codes or f is None or not accepts_missing_codes(
                    f, self.record_id):
                self._typed[key] = pd.Series(False, index=text.index)
            else:
                self._typed[key] = text.isin(list(self.missing_codes.codes))
        return self._typed[key]

    def date(self, form: str, field: str) -> pd.Series:
        """The column as dates (NaT for blank or not a Y-M-D date); cached."""
        key = ("date", form, field)
        if key not in self._typed:
            text = self.text(form, field)
            out = pd.Series(pd.NaT, index=text.index, dtype="datetime64[ns]")
            filled = text != ""
            if filled.any():
                out[filled] = pd.to_datetime(text[filled], format=_DATE_FORMAT, errors="coerce")
            self._typed[key] = out
        return self._typed[key]

    def number(self, form: str, field: str) -> pd.Series:
        """The column as floats (NaN for blank or not a number); cached."""
        key = ("number", form, field)
        if key not in self._typed:
            self._typed[key] = pd.to_numeric(self.text(form, field), errors="coerce")
        return self._typed[key]

    def per_record(self, form: str, field: str, how: str = "min", kind: str = "date"
                   ) -> pd.Series:
        """An aggregate of a repeating field per record (indexed by record id)."""
        rows = self.form_rows(form)
        values = self.date(form, field) if kind == "date" else self.number(form, field)
        return values.groupby(rows["record_id"].to_numpy()).agg(how)
