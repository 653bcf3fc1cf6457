"""Compare two versions of a data dictionary and classify every change by what it does to
data already in a production REDCap project.

- ``safe``: nothing stored can be lost or misread (field added, label or note edited, choice
  added, validation loosened, field flagged as identifier).
- ``review``: stored data survives but may now be hidden, fail validation, be recalculated or
  be exported differently (validation tightened, branching or calc changed, field made
  required, radio ↔ dropdown, text → notes, identifier flag removed, field moved to another
  form, choice label reworded).
- ``destroys``: stored values are orphaned or change meaning (field removed or renamed,
  choice code removed or re-coded, field type changed, form renamed, record id changed).

Exit codes of ``sgbm-redcap dictionary diff`` follow the worst level: 0 safe (or no change),
1 review, 3 destroys (2 is kept for usage errors, as everywhere in the CLI).
"""

from __future__ import annotations

import re
from dataclasses import asdict, dataclass, field

from sgbm_redcap.dictionary.model import Dictionary, Field
from sgbm_redcap.dictionary.project import StudyProject

SAFE, REVIEW, DESTROYS = "safe", "review", "destroys"
LEVEL_ORDER = {SAFE: 0, REVIEW: 1, DESTROYS: 2}
EXIT_CODES = {None: 0, SAFE: 0, REVIEW: 1, DESTROYS: 3}

#: Type changes that keep every stored value readable.
_COMPATIBLE_TYPES = {("radio", "dropdown"), ("dropdown", "radio"), ("text", "notes")}


@dataclass(frozen=True)
class Change:
    kind: str  # e.g. field-removed, choice-recoded
    level: str  # safe | review | destroys
    field: str
    form: str
    detail: str
    old: str = ""
    new: str = ""

    def to_dict(self) -> dict[str, str]:
        return asdict(self)

    def __str__(self) -> str:
        where = f"[{self.field}]" if self.field else f"form {self.form}"
        return f"{self.level:8} {self.kind:24} {where}: {self.detail}"


@dataclass
class DictionaryDiff:
    old_source: str
    new_source: str
    changes: list[Change] = field(default_factory=list)

    @property
    def level(self) -> str | None:
        """The worst level of any change, ``None`` when nothing changed."""
        if not self.changes:
            return None
        return max((c.level for c in self.changes), key=LEVEL_ORDER.__getitem__)

    @property
    def exit_code(self) -> int:
        return EXIT_CODES[self.level]

    def by_level(self, level: str) -> list[Change]:
        return [c for c in self.changes if c.level == level]

    def to_dict(self) -> dict[str, object]:
        return {
            "old": self.old_source,
            "new": self.new_source,
            "level": self.level,
            "exit_code": self.exit_code,
            "counts": {lv: len(self.by_level(lv)) for lv in LEVEL_ORDER},
            "changes": [c.to_dict() for c in self.changes],
        }


def _norm(text: str) -> str:
    return re.sub(r"\s+", " ", text).strip()


def _number(text: str) -> float | None:
    try:
        return float(text)
    except ValueError:
        return None


def _bound_tightened(old: str, new: str, is_min: bool) -> bool | None:
    """True if the bound now excludes values it allowed, False if it allows more, None if
    unchanged or not comparable (then it counts as a review)."""
    if old == new:
        return None
    if not new:
        return False
    if not old:
        return True
    a, b = _number(old), _number(new)
    if a is None or b is None:
        # dates compare as strings in YYYY-MM-DD
        if re.fullmatch(r"\d{4}-\d{2}-\d{2}", old) and re.fullmatch(r"\d{4}-\d{2}-\d{2}", new):
            a_s, b_s = old, new
            return b_s > a_s if is_min else b_s < a_s
        return True
    return b > a if is_min else b < a


class _Differ:
    def __init__(self, old: Dictionary, new: Dictionary) -> None:
        self.old, self.new = old, new
        self.changes: list[Change] = []

    def add(self, kind: str, level: str, f: Field | None, detail: str, old: str = "",
            new: str = "", form: str = "") -> None:
        self.changes.append(Change(kind, level, f.name if f else "", form or (f.form if f else ""),
                                   detail, old, new))

    def run(self) -> list[Change]:
        old_names = [f.name for f in self.old.fields]
        new_names = [f.name for f in self.new.fields]
        old_set, new_set = set(old_names), set(new_names)
        removed = [self.old.field(n) for n in dict.fromkeys(old_names) if n not in new_set]
        added = [self.new.field(n) for n in dict.fromkeys(new_names) if n not in old_set]

        if self.old.record_id != self.new.record_id:
            self.add("record-id-changed", DESTROYS, None,
                     f"record id field {self.old.record_id!r} → {self.new.record_id!r}; every "
                     "record would need re-keying", self.old.record_id, self.new.record_id)

        form_renames = self._form_renames()
        for old_form, new_form in form_renames.items():
            self.add("form-renamed", DESTROYS, None,
                     f"form {old_form!r} → {new_form!r}: form status, repeating setup, "
                     "user rights and reports keyed by the old name are lost",
                     old_form, new_form, form=old_form)
        for form in self.old.forms:
            if form not in self.new.forms and form not in form_renames:
                if not any(f.name in new_set for f in self.old.form_fields(form)):
                    self.add("form-removed", DESTROYS, None,
                             f"form {form!r} and all its data removed", form, "", form=form)
        for form in self.new.forms:
            if form not in self.old.forms and form not in form_renames.values():
                self.add("form-added", SAFE, None, f"new form {form!r}", "", form, form=form)

        renames = self._field_renames(removed, added, form_renames)
        for o, n in renames:
            self.add("field-renamed", DESTROYS, o,
                     f"renamed to [{n.name}]: REDCap stores data by name, so stored values "
                     "stay under the old name and the new field starts empty", o.name, n.name)
        renamed_old = {o.name for o, _ in renames}
        renamed_new = {n.name for _, n in renames}
        for f in removed:
            if f.name not in renamed_old:
                self.add("field-removed", DESTROYS, f, "field removed; its stored values are lost",
                         f.name, "")
        for f in added:
            if f.name not in renamed_new:
                level = REVIEW if f.required else SAFE
                note = " (required: existing records become incomplete)" if f.required else ""
                self.add("field-added", level, f, f"new {f.field_type} field{note}", "", f.name)

        for name in dict.fromkeys(old_names):
            if name in new_set:
                self._compare(self.old.field(name), self.new.field(name), form_renames)
        for o, n in renames:
            self._compare(o, n, form_renames, renamed=True)
        return self.changes

    def _form_renames(self) -> dict[str, str]:
        """old form -> new form, when a form vanished and most of its fields turn up together
        in one form that did not exist before."""
        out: dict[str, str] = {}
        new_forms = set(self.new.forms)
        for form in self.old.forms:
            if form in new_forms:
                continue
            names = [f.name for f in self.old.form_fields(form)]
            landing: dict[str, int] = {}
            for n in names:
                nf = self.new.get(n)
                if nf is not None and nf.form not in self.old.forms:
                    landing[nf.form] = landing.get(nf.form, 0) + 1
            if landing:
                target, count = max(landing.items(), key=lambda kv: kv[1])
                if count * 2 >= len(names) and target not in out.values():
                    out[form] = target
        return out

    def _field_renames(self, removed: list[Field], added: list[Field],
                       form_renames: dict[str, str]) -> list[tuple[Field, Field]]:
        pairs: list[tuple[Field, Field]] = []
        used: set[str] = set()
        for o in removed:
            form = form_renames.get(o.form, o.form)
            for n in added:
                if n.name in used or n.form != form or n.field_type != o.field_type:
                    continue
                same_label = _norm(o.label) == _norm(n.label) and bool(_norm(o.label))
                same_choices = bool(o.choices) and o.choices == n.choices and \
                    o.field_type not in ("yesno", "truefalse")
                same_calc = o.field_type == "calc" and _norm(o.choices_raw) == _norm(n.choices_raw)
                if same_label or same_choices or same_calc:
                    pairs.append((o, n))
                    used.add(n.name)
                    break
        return pairs

    def _compare(self, o: Field, n: Field, form_renames: dict[str, str],
                 renamed: bool = False) -> None:
        if not renamed and o.form != n.form and form_renames.get(o.form) != n.form:
            self.add("field-moved", REVIEW, n,
                     f"moved from form {o.form!r} to {n.form!r}: check repeating setup and "
                     "form status", o.form, n.form)
        if o.field_type != n.field_type:
            level = REVIEW if (o.field_type, n.field_type) in _COMPATIBLE_TYPES else DESTROYS
            self.add("type-changed", level, n, f"type {o.field_type} → {n.field_type}",
                     o.field_type, n.field_type)
        self._choices(o, n)
        self._validation(o, n)
        if _norm(o.branching_logic) != _norm(n.branching_logic):
            self.add("branching-changed", REVIEW, n,
                     "branching logic changed: values may be hidden or required fields appear",
                     o.branching_logic, n.branching_logic)
        if o.field_type == n.field_type == "calc" and _norm(o.choices_raw) != _norm(n.choices_raw):
            self.add("calc-changed", REVIEW, n, "calculation changed: stored values will be "
                     "recalculated", o.choices_raw, n.choices_raw)
        if o.required != n.required:
            self.add("required-added" if n.required else "required-removed",
                     REVIEW if n.required else SAFE, n,
                     "made required" if n.required else "no longer required")
        if o.identifier != n.identifier:
            self.add("identifier-removed" if o.identifier else "identifier-added",
                     REVIEW if o.identifier else SAFE, n,
                     "identifier flag removed: de-identified exports will now include it"
                     if o.identifier else "flagged as identifier")
        for attr, kind in (("label", "label-changed"), ("field_note", "note-changed"),
                           ("section_header", "section-changed")):
            if _norm(getattr(o, attr)) != _norm(getattr(n, attr)):
                self.add(kind, SAFE, n, f"{attr.replace('_', ' ')} edited",
                         getattr(o, attr), getattr(n, attr))
        if set(o.action_tags) != set(n.action_tags):
            self.add("action-tags-changed", REVIEW, n,
                     f"action tags {' '.join(o.action_tags) or '-'} → "
                     f"{' '.join(n.action_tags) or '-'}", o.annotation, n.annotation)
        elif _norm(o.annotation) != _norm(n.annotation):
            self.add("annotation-changed", SAFE, n, "field annotation edited",
                     o.annotation, n.annotation)
        if o.matrix_group != n.matrix_group:
            self.add("matrix-changed", REVIEW, n, "matrix group changed", o.matrix_group,
                     n.matrix_group)

    def _choices(self, o: Field, n: Field) -> None:
        if not (o.choices and n.choices) or o.field_type in ("yesno", "truefalse"):
            return
        oc, nc = o.choices, n.choices
        new_by_label = {_norm(v).lower(): k for k, v in nc.items()}
        for code, label in oc.items():
            if code not in nc:
                moved = new_by_label.get(_norm(label).lower())
                if moved is not None:
                    self.add("choice-recoded", DESTROYS, n,
                             f"{label!r} re-coded {code} → {moved}: stored {code}s now mean "
                             f"{nc.get(moved, '?')!r} or nothing", f"{code}, {label}",
                             f"{moved}, {nc[moved]}")
                else:
                    self.add("choice-removed", DESTROYS, n,
                             f"choice {code} ({label!r}) removed: stored {code}s are orphaned",
                             f"{code}, {label}", "")
            elif _norm(nc[code]).lower() != _norm(label).lower():
                moved = new_by_label.get(_norm(label).lower())
                if moved is not None and moved != code:
                    self.add("choice-recoded", DESTROYS, n,
                             f"{label!r} re-coded {code} → {moved}; code {code} now means "
                             f"{nc[code]!r}", f"{code}, {label}", f"{moved}, {nc[moved]}")
                else:
                    self.add("choice-label-changed", REVIEW, n,
                             f"code {code}: {label!r} → {nc[code]!r} (check the meaning is the "
                             "same)", f"{code}, {label}", f"{code}, {nc[code]}")
        for code, label in nc.items():
            if code not in oc and _norm(label).lower() not in {_norm(v).lower() for v in oc.values()}:
                self.add("choice-added", SAFE, n, f"choice {code} ({label!r}) added", "",
                         f"{code}, {label}")

    def _validation(self, o: Field, n: Field) -> None:
        ov, nv = o.validation_type, n.validation_type
        if ov != nv:
            if (n.field_type in ("dropdown", "sql") and o.field_type == n.field_type
                    and {ov.lower(), nv.lower()} <= {"", "autocomplete"}):
                # REDCap's auto-complete dropdown changes how the list is shown, not what a
                # value may be: stored codes are checked against the choices as before
                self.add("autocomplete-changed", SAFE, n,
                         f"auto-complete {'turned on' if nv else 'turned off'}", ov, nv)
                return
            if not nv:
                self.add("validation-removed", SAFE, n, f"validation {ov} removed", ov, nv)
            else:
                self.add("validation-changed", REVIEW, n,
                         f"validation {ov or 'none'} → {nv}: stored values may no longer pass",
                         ov, nv)
            return
        for attr, is_min in (("validation_min", True), ("validation_max", False)):
            tighter = _bound_tightened(getattr(o, attr), getattr(n, attr), is_min)
            if tighter is None:
                continue
            label = "min" if is_min else "max"
            self.add("range-tightened" if tighter else "range-loosened",
                     REVIEW if tighter else SAFE, n,
                     f"{label} {getattr(o, attr) or 'none'} → {getattr(n, attr) or 'none'}",
                     getattr(o, attr), getattr(n, attr))


def diff_dictionaries(old: Dictionary, new: Dictionary) -> DictionaryDiff:
    """Every change from ``old`` to ``new``, classified safe / review / destroys."""
    return DictionaryDiff(old.source, new.source, _Differ(old, new).run())


def diff_projects(old: StudyProject, new: StudyProject) -> DictionaryDiff:
    """``diff_dictionaries`` plus the project metadata: repeating setup, DAGs, version."""
    result = diff_dictionaries(old.dictionary, new.dictionary)
    changes = result.changes
    old_rep, new_rep = set(old.repeating_forms), set(new.repeating_forms)
    for form in new.repeating_forms:
        if form not in old_rep and form in old.dictionary.forms:
            changes.append(Change("form-made-repeating", REVIEW, "", form,
                                  f"form {form!r} becomes repeating: existing data becomes "
                                  "instance 1; exports gain rows", "", form))
    for form in old.repeating_forms:
        if form not in new_rep and form in new.dictionary.forms:
            changes.append(Change("form-made-non-repeating", DESTROYS, "", form,
                                  f"form {form!r} stops repeating: instances after the first "
                                  "are orphaned", form, ""))
    old_dags, new_dags = dict(old.dags), dict(new.dags)
    for name, label in new.dags:
        if name not in old_dags:
            changes.append(Change("dag-added", SAFE, "", "", f"new DAG {name!r} ({label})",
                                  "", name))
        elif old_dags[name] != label:
            changes.append(Change("dag-relabelled", SAFE, "", "",
                                  f"DAG {name!r}: {old_dags[name]!r} → {label!r}",
                                  old_dags[name], label))
    for name, label in old.dags:
        if name not in new_dags:
            changes.append(Change("dag-removed", REVIEW, "", "",
                                  f"DAG {name!r} ({label}) removed: its records and users "
                                  "become unassigned", name, ""))
    changes.extend(_translation_changes(old, new))
    if changes and old.version == new.version:
        changes.append(Change("version-unchanged", REVIEW, "", "",
                              f"the project changed but its version is still {new.version!r}; "
                              "bump it and add a CHANGELOG entry", old.version, new.version))
    elif old.version != new.version and not changes:
        changes.append(Change("version-changed", SAFE, "", "",
                              f"version {old.version} → {new.version}", old.version, new.version))
    return result


def _translation_changes(old: StudyProject, new: StudyProject) -> list[Change]:
    """Translations (MLM) added, removed or reworded, item by item; a language added or
    removed is one change. No stored value depends on a translation, so rewording is safe;
    losing one is a review (the site sees English there)."""
    from sgbm_redcap.dictionary.translation import split_key

    out: list[Change] = []
    if not (old.translations_known and new.translations_known):
        return out  # a Project XML says nothing about MLM: nothing to compare
    old_ids, new_ids = {lf.id for lf in old.languages}, {lf.id for lf in new.languages}
    for lang in sorted(new_ids - old_ids):
        out.append(Change("language-added", SAFE, "", "", f"translation {lang} added", "",
                          lang))
    for lang in sorted(old_ids - new_ids):
        out.append(Change("language-removed", REVIEW, "", "", f"translation {lang} removed: "
                          "its users see the English CRF", lang, ""))
    for lang in sorted(old_ids & new_ids):
        a, b = old.translation(lang), new.translation(lang)
        before, after = (a.items if a else {}), (b.items if b else {})
        for key in sorted(set(before) | set(after)):
            kind, name, part, code = split_key(key)
            what = f"{lang} {part}{' ' + code if code else ''}"
            fld, form = (name, "") if kind == "field" else ("", name)
            if key not in before:
                out.append(Change("translation-added", SAFE, fld, form, f"{what} translated",
                                  "", after[key]))
            elif key not in after:
                out.append(Change("translation-removed", REVIEW, fld, form, f"{what} no longer "
                                  "translated: shown in English", before[key], ""))
            elif before[key] != after[key]:
                out.append(Change("translation-changed", SAFE, fld, form,
                                  f"{what}: {before[key]!r} → {after[key]!r}", before[key],
                                  after[key]))
    return out
