""""Changes since the previous cut": the monthly report's section on what a
:class:`sgbm_redcap.cuts.CutDiff` found, and the stand-alone HTML of ``cut diff``.

Every cell is a plain string (the environment escapes it): values typed by sites (free
text, AE terms) reach the page only through the template's autoescape, and no identifier
field is ever listed (``redaction.identifier_fields``: a retrospective change of one is
counted, its values are not shown).
"""

from __future__ import annotations

import re
from datetime import datetime
from typing import Any

from sgbm_redcap.cuts import Cut, CutDiff, diff_cuts
from sgbm_redcap.dictionary.project import study_project
from sgbm_redcap.reports.contexts import (
    KeyFigure,
    KeyFigures,
    Paragraph,
    ReportContext,
    Section,
    Table,
    study_cover,
)
from sgbm_redcap.reports.quality import instrument_titles
from sgbm_redcap.reports.redaction import identifier_fields

SECTION_ID = "changes"
TITLE = "Changes since the previous cut"
HIDDEN = "(identifier: not shown)"


def cut_changes(cut: Cut, previous: Cut | None, *, results: Any = None,
                tables: Any = None) -> tuple[Section, str]:
    """The section comparing ``cut`` with ``previous`` (its recorded previous cut), and
    the one-sentence summary for the executive summary ('' when there is nothing to
    compare with)."""
    if previous is None:
        recorded = cut.info.get("previous")
        text = ("This is the first data cut: there is no earlier cut to compare with."
                if not recorded else
                f"The previous cut {recorded['folder']} (cut-off {recorded['cutoff']}) is "
                "not beside this one: the changes cannot be shown.")
        return Section(SECTION_ID, TITLE, [Paragraph(text, "note")]), ""
    diff = diff_cuts(previous, cut, results_new=results, tables_new=tables)
    return changes_section(diff, cut.dictionary), diff.summary()


#: a form or field name in the cut diff's text (lower case, digits, underscores)
_NAME = re.compile(r"\b[a-z][a-z0-9_]*\b")


def changes_section(diff: CutDiff, dictionary: Any, project: Any = None) -> Section:
    """The blocks of the section, from a diff."""
    hidden = identifier_fields(dictionary)
    titles = instrument_titles(dictionary, project or study_project())

    def field_label(name: str) -> str:
        """A field as the CRF words it (its name when the dictionary no longer has it)."""
        return dictionary.field(name).label if name in dictionary else name

    def worded(text: str) -> str:
        """The cut diff's source values (``ia_rano_inv: PR → SD``, ``intracranial_assessment
        #6 added``) with each form and field name as the CRF words it."""
        return _NAME.sub(lambda m: titles.get(m.group(0)) or (
            field_label(m.group(0)) if m.group(0) in dictionary else m.group(0)), text)

    blocks: list[Any] = [Paragraph(diff.summary())]
    blocks += [Paragraph(note, "warning" if "Re-cut" in note else "note")
               for note in diff.notes]
    crit = diff.critical()
    blocks.append(KeyFigures("changes-key", [
        KeyFigure("New patients", f"+{len(diff.new_patients)}",
                  f"{int(diff.new_patients['enrolled'].sum())} enrolled by the cut-off"),
        KeyFigure("Endpoints changed", str(diff.endpoints["record_id"].nunique()),
                  "patients (BOR, iPFS/PFS/OS, analysis sets)"),
        KeyFigure("New SAEs / AESIs / deaths",
                  f"{diff.count('SAE')} / {diff.count('AESI')} / {diff.count('death')}", ""),
        KeyFigure("Retrospective changes", str(len(diff.retrospective)),
                  f"{len(crit)} in critical fields"),
    ]))
    blocks.append(Table(
        "changes-new-by-site", "Table 1. New patients by site",
        ["Site", "New records", "Enrolled by the cut-off"],
        [[r.site, str(r.new_records), str(r.new_enrolled)]
         for r in diff.new_by_site().itertuples(index=False)],
        footnote=(f"Records in the cut of {diff.new.cutoff.isoformat()} that the cut of "
                  f"{diff.old.cutoff.isoformat()} did not hold."
                  + (f" {len(diff.removed_patients)} records of the previous cut are gone."
                     if len(diff.removed_patients) else ""))))
    moved = ", ".join(f"{name} {n}" for name, n in diff.censoring_moved_on.items() if n)
    blocks.append(Table(
        "changes-endpoints", "Table 2. Patients whose derived endpoints changed",
        ["Record", "Site", "Endpoint", "Previous cut", "This cut", "What changed"],
        [[r.record_id, r.site, r.endpoint, r.old, r.new,
          "; ".join(x for x in (r.detail, worded(r.sources)) if x)]
         for r in diff.endpoints.itertuples(index=False)],
        text_columns=6, wide=True,
        empty_message="None: no patient's best response, iPFS, PFS, OS or analysis-set "
                      "membership changed.",
        footnote="BOR: confirmed best overall intracranial response (RANO-BM). A censoring "
                 "date that only moved forward with new follow-up is not listed"
                 + (f" ({moved} patients)." if moved else ".")
                 + " 'What changed' lists the patient's source values that changed in the "
                 "forms the endpoint is derived from."))
    blocks.append(Table(
        "changes-events", "Table 3. New SAEs, AESIs and deaths",
        ["Kind", "Record", "Site", "Date", "Detail"],
        [[r.change, r.record_id, r.site, r.date or "–", r.detail]
         for r in diff.events.itertuples(index=False)],
        text_columns=5, empty_message="None.",
        footnote=f"Reported since the previous cut, dated up to the cut-off "
                 f"{diff.new.cutoff.isoformat()}."))
    counts = diff.retrospective_counts()
    blocks.append(Table(
        "changes-retro-counts", "Table 4. Retrospective changes by site and form",
        ["Site", "Form", "Values changed", "Patients"],
        [[r.site, titles.get(r.form, r.form), str(r.changes), str(r.records)]
         for r in counts.itertuples(index=False)],
        text_columns=2,
        empty_message="None: no value the previous report relied on was changed.",
        footnote=f"Values held by the cut of {diff.old.cutoff.isoformat()} for data dated on "
                 "or before its cut-off that were changed or deleted after it (status fields "
                 "such as the last contact date moving on are follow-up, not counted)."))
    blocks.append(Table(
        "changes-retro-critical", "Table 5. Retrospective changes of critical fields",
        ["Record", "Site", "Form", "Field", "Previous cut", "This cut", "Row dated",
         "Changed by", "When"],
        [[r.record_id, r.site, titles.get(r.form, r.form) + (f" #{r.instance}" if r.instance
                                                             else ""), field_label(r.field),
          HIDDEN if r.field in hidden else r.old_label,
          HIDDEN if r.field in hidden else r.new_label, r.dated or "–", r.who or "–",
          r.when or "–"]
         for r in crit.itertuples(index=False)],
        text_columns=9, wide=True,
        empty_message="None: no scan date, RANO-BM or RECIST call, progression date, AE "
                      "grade or death was changed retrospectively.",
        footnote="Critical fields: scan dates, RANO-BM and RECIST calls, progression dates, "
                 "AE grade and seriousness, vital status, death date and cause. Who and when "
                 "come from REDCap's log in this cut"
                 + ("." if diff.log_available else " (not available for this cut).")))
    if diff.dictionary is not None and diff.dictionary.changes:
        d = diff.dictionary
        blocks.append(Table(
            "changes-dictionary", f"Table 6. Data dictionary changes ({d.level})",
            ["Level", "Change", "Field / form", "Detail"],
            [[c.level, c.kind, field_label(c.field) if c.field else titles.get(c.form, c.form),
              worded(c.detail)] for c in d.changes],
            text_columns=4,
            footnote=f"Dictionary {diff.old.dictionary_version} → "
                     f"{diff.new.dictionary_version}, classified as 'sgbm-redcap dictionary "
                     "diff' does (safe / review / destroys)."))
    blocks.append(Paragraph(
        f"Compared: cut {diff.old.folder} (manifest {diff.old.manifest_sha256[:12]}) with "
        f"cut {diff.new.folder} (manifest {diff.new.manifest_sha256[:12]}).", "note"))
    return Section(SECTION_ID, TITLE, blocks)


def diff_report(diff: CutDiff, dictionary: Any, *, project: Any = None) -> ReportContext:
    """``cut diff --format html``: the section alone, under a cover naming both cuts."""
    cover = study_cover(
        "Changes between two data cuts", diff.new.cutoff, project=project,
        extract_date=None, dictionary_version=diff.new.dictionary_version,
        data_source=f"cuts {diff.old.folder} → {diff.new.folder}",
        generated_at=datetime.fromisoformat(diff.new.created_at),
        package_versions=[])
    section = changes_section(diff, dictionary, project)
    return ReportContext(cover, [section], f"{cover.study_name} · changes "
                         f"{diff.old.cutoff.isoformat()} → {diff.new.cutoff.isoformat()}")
