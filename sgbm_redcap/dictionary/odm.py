"""REDCap Project XML (CDISC ODM 1.3.1 with REDCap's ``redcap:`` extensions).

``build_project_xml`` writes the XML that REDCap's "Create project → upload a REDCap XML
file" (and API ``content=project`` with ``odm``) turns into the whole study project in one
step: instruments and fields, repeating instruments, Data Access Groups. The layout follows
the Project XML files REDCap itself exports (see ``corpus/api_fixtures/*.REDCap.xml``):
one ``FormDef`` per instrument, one ``ItemGroupDef`` per section, one ``ItemDef`` per field
(one per option for checkboxes), a ``CodeList`` per choice field, ``RangeCheck`` for
validation min/max, and ``<form>_complete`` status fields.

``read_project_xml`` reads such a file back into a ``Dictionary`` (plus repeating forms and
DAGs), so a Project XML can be linted and diffed like a CSV dictionary.
"""

from __future__ import annotations

import datetime as dt
import re
import xml.etree.ElementTree as ET
from dataclasses import dataclass, field
from typing import TYPE_CHECKING, Any
from xml.sax.saxutils import escape, quoteattr

from sgbm_redcap.dictionary.model import COLUMNS, Dictionary, Field, checkbox_column
from sgbm_redcap.errors import DictionaryError

if TYPE_CHECKING:  # the project module reads Project XML with this one: no runtime import back
    from sgbm_redcap.dictionary.project import StudyProject

NS = {
    "odm": "http://www.cdisc.org/ns/odm/v1.3",
    "redcap": "https://projectredcap.org",
}
#: The implicit event of a classic project, named in its repeating-instrument setup.
CLASSIC_EVENT = "event_1_arm_1"

_ODM_FIELD_TYPE = {"notes": "textarea", "dropdown": "select"}
_CSV_FIELD_TYPE = {"textarea": "notes", "select": "dropdown"}
_ODM_VALIDATION = {"integer": "int", "number": "float"}
_CSV_VALIDATION = {"int": "integer", "float": "number"}
_STATUS_CHOICES = (("0", "Incomplete"), ("1", "Unverified"), ("2", "Complete"))


def form_label(form: str) -> str:
    """REDCap's default instrument label for a form name: ``adverse_events`` → ``Adverse
    Events``."""
    return " ".join(w.capitalize() for w in form.split("_") if w)


def _data_type(f: Field) -> str:
    v = f.validation_type
    if f.field_type in ("checkbox", "yesno", "truefalse"):
        return "boolean"
    if f.field_type == "calc":
        return "float"
    if f.field_type == "slider":
        return "integer"
    if f.field_type != "text" or not v:
        return "text"
    if v == "integer":
        return "integer"
    if v == "number" or re.fullmatch(r"number_\d+dp", v):
        return "float"
    if v.startswith("date_"):
        return "date"
    if v.startswith("datetime_seconds"):
        return "datetime"
    if v.startswith("datetime_"):
        return "partialDatetime"
    if v.startswith("time"):
        return "partialTime"
    return "text"


def _attr(name: str, value: str) -> str:
    return f" {name}={quoteattr(value)}" if value else ""


def _question(label: str) -> str:
    return f"\t\t<Question><TranslatedText>{escape(label)}</TranslatedText></Question>\n"


def _item_def(f: Field, oid: str, *, codelist: str | None) -> str:
    ftype = _ODM_FIELD_TYPE.get(f.field_type, f.field_type)
    length = "1" if f.field_type in ("radio", "dropdown", "checkbox", "yesno", "truefalse") \
        else "999"
    validation = f.validation.strip()
    validation = _ODM_VALIDATION.get(f.validation_type, validation) if validation else ""
    attrs = (
        f'OID={quoteattr(oid)} Name={quoteattr(oid)} DataType="{_data_type(f)}" '
        f'Length="{length}" redcap:Variable={quoteattr(f.name)} '
        f"redcap:FieldType={quoteattr(ftype)}"
        + _attr("redcap:TextValidationType", validation)
        + _attr("redcap:SliderLabels", f.choices_raw if f.field_type == "slider" else "")
        + _attr("redcap:FieldNote", f.field_note)
        + _attr("redcap:SectionHeader", f.section_header)
        + _attr("redcap:Calculation", f.choices_raw if f.field_type == "calc" else "")
        + _attr("redcap:Identifier", "y" if f.identifier else "")
        + _attr("redcap:BranchingLogic", f.branching_logic)
        + _attr("redcap:RequiredField", "y" if f.required else "")
        + _attr("redcap:CustomAlignment", f.alignment)
        + _attr("redcap:QuestionNumber", f.question_number)
        + _attr("redcap:MatrixGroupName", f.matrix_group)
        + _attr("redcap:MatrixRanking", "y" if f.matrix_ranking else "")
        + _attr("redcap:FieldAnnotation", f.annotation)
    )
    body = _question(f.label)
    if codelist:
        body += f"\t\t<CodeListRef CodeListOID={quoteattr(codelist)}/>\n"
    if f.field_type == "text" and (f.validation_min or f.validation_max):
        lo, hi = f.validation_min, f.validation_max
        message = ("The value you provided is outside the suggested range. "
                   f"({lo or 'no limit'} - {hi or 'no limit'}). This value is admissible, but "
                   "you may wish to double check it.")
        for comparator, value in (("GE", lo), ("LE", hi)):
            if value:
                body += (f'\t\t<RangeCheck Comparator="{comparator}" SoftHard="Soft">\n'
                         f"\t\t\t<CheckValue>{escape(value)}</CheckValue>\n"
                         f"\t\t\t<ErrorMessage><TranslatedText>{escape(message)}"
                         "</TranslatedText></ErrorMessage>\n\t\t</RangeCheck>\n")
    return f"\t<ItemDef {attrs}>\n{body}\t</ItemDef>\n"


def _code_list(oid: str, name: str, variable: str, data_type: str,
               items: list[tuple[str, str]], checkbox_choices: str = "") -> str:
    out = (f"\t<CodeList OID={quoteattr(oid)} Name={quoteattr(name)} DataType=\"{data_type}\" "
           f"redcap:Variable={quoteattr(variable)}"
           + _attr("redcap:CheckboxChoices", checkbox_choices) + ">\n")
    for code, label in items:
        out += (f"\t\t<CodeListItem CodedValue={quoteattr(code)}><Decode><TranslatedText>"
                f"{escape(label)}</TranslatedText></Decode></CodeListItem>\n")
    return out + "\t</CodeList>\n"


def build_project_xml(project: StudyProject, *, now: dt.datetime | None = None) -> str:
    """The REDCap Project XML that creates the whole study project in one upload."""
    d = project.dictionary
    stamp = (now or dt.datetime.now()).replace(microsecond=0)
    name = project.short_name or project.title or "Project"
    oid_name = re.sub(r"[^A-Za-z0-9]", "", name.title()) or "Project"
    title = project.title or name
    repeating = set(project.repeating_forms)
    labels = {}
    for form in d.forms:
        labels[form] = project.form_label(form)

    head = (
        '<?xml version="1.0" encoding="UTF-8" ?>\n'
        '<ODM xmlns="http://www.cdisc.org/ns/odm/v1.3" '
        'xmlns:ds="http://www.w3.org/2000/09/xmldsig#" '
        'xmlns:xsi="http://www.w3.org/2001/XMLSchema-instance" '
        'xmlns:redcap="https://projectredcap.org" '
        'xsi:schemaLocation="http://www.cdisc.org/ns/odm/v1.3 schema/odm/ODM1-3-1.xsd" '
        f'ODMVersion="1.3.1" FileOID="000-00-0000" FileType="Snapshot" '
        f"Description={quoteattr(title)} AsOfDateTime=\"{stamp.isoformat()}\" "
        f'CreationDateTime="{stamp.isoformat()}" SourceSystem="REDCap" '
        f'SourceSystemVersion="14.0.0">\n'
        f'<Study OID="Project.{oid_name}">\n<GlobalVariables>\n'
        f"\t<StudyName>{escape(title)}</StudyName>\n"
        f"\t<StudyDescription>{escape(title)} (dictionary version {escape(project.version)})"
        "</StudyDescription>\n"
        f"\t<ProtocolName>{escape(title)}</ProtocolName>\n"
        f"\t<redcap:RecordAutonumberingEnabled>{int(project.record_autonumbering)}"
        "</redcap:RecordAutonumberingEnabled>\n"
        "\t<redcap:CustomRecordLabel></redcap:CustomRecordLabel>\n"
        "\t<redcap:SecondaryUniqueField></redcap:SecondaryUniqueField>\n"
        "\t<redcap:SchedulingEnabled>0</redcap:SchedulingEnabled>\n"
        "\t<redcap:SurveysEnabled>0</redcap:SurveysEnabled>\n"
        "\t<redcap:SurveyInvitationEmailField></redcap:SurveyInvitationEmailField>\n"
        "\t<redcap:Purpose>2</redcap:Purpose>\n"
        "\t<redcap:PurposeOther></redcap:PurposeOther>\n"
        f"\t<redcap:ProjectNotes>Data dictionary version {escape(project.version)}"
        "</redcap:ProjectNotes>\n"
        f"\t<redcap:MissingDataCodes>{escape(project.missing_codes.to_xml_text())}"
        "</redcap:MissingDataCodes>\n"
    )
    if repeating:
        head += "\t<redcap:RepeatingInstrumentsAndEvents>\n\t\t<redcap:RepeatingInstruments>\n"
        for form in d.forms:
            if form in repeating:
                head += (f'\t\t\t<redcap:RepeatingInstrument redcap:UniqueEventName='
                         f'"{CLASSIC_EVENT}" redcap:RepeatInstrument={quoteattr(form)} '
                         f"redcap:CustomLabel={quoteattr(project.repeating_labels.get(form, ''))}/>\n")
        head += "\t\t</redcap:RepeatingInstruments>\n\t</redcap:RepeatingInstrumentsAndEvents>\n"
    if project.dags:
        head += "\t<redcap:DataAccessGroupsGroup>\n"
        for _unique, label in project.dags:
            head += f"\t\t<redcap:DataAccessGroups group_name={quoteattr(label)}/>\n"
        head += "\t</redcap:DataAccessGroupsGroup>\n"
    head += "</GlobalVariables>\n"
    head += (f'<MetaDataVersion OID="Metadata.{oid_name}_{stamp:%Y-%m-%d_%H%M}" '
             f"Name={quoteattr(title)} redcap:RecordIdField={quoteattr(d.record_id)}>\n")

    form_defs, group_defs, item_defs, code_lists = [], [], [], []
    for form in d.forms:
        fields = d.form_fields(form)
        # ItemGroups: a new one at every section header (REDCap's own layout)
        groups: list[tuple[str, str, list[tuple[str, Field | None]]]] = []
        for f in fields:
            if not groups or f.section_header.strip():
                name_ = f.section_header.strip() or labels[form]
                groups.append((f"{form}.{f.name}", name_, []))
            refs = groups[-1][2]
            if f.field_type == "checkbox":
                refs.extend((checkbox_column(f.name, c), f) for c in f.choices)
            else:
                refs.append((f.name, f))
            if f.name == d.record_id and project.dags:
                refs.append(("redcap_data_access_group", None))
        groups.append((f"{form}.{form}_complete", "Form Status", [(f"{form}_complete", None)]))
        form_defs.append(
            f'\t<FormDef OID="Form.{form}" Name={quoteattr(labels[form])} '
            f'Repeating="No" redcap:FormName="{form}">\n'
            + "".join(f'\t\t<ItemGroupRef ItemGroupOID={quoteattr(g[0])} Mandatory="No"/>\n'
                      for g in groups)
            + "\t</FormDef>\n")
        for oid, gname, refs in groups:
            lines = "".join(
                f"\t\t<ItemRef ItemOID={quoteattr(item)} "
                f'Mandatory="{"Yes" if f is not None and f.required else "No"}" '
                f"redcap:Variable={quoteattr(f.name if f is not None else item)}/>\n"
                for item, f in refs)
            group_defs.append(f"\t<ItemGroupDef OID={quoteattr(oid)} Name={quoteattr(gname)} "
                              f'Repeating="No">\n{lines}\t</ItemGroupDef>\n')
        for f in fields:
            if f.field_type == "checkbox":
                joined = "|".join(f"{c}, {lab}" for c, lab in f.choices.items())
                for code in f.choices:
                    col = checkbox_column(f.name, code)
                    item_defs.append(_item_def(f, col, codelist=f"{col}.choices"))
                    code_lists.append(_code_list(f"{col}.choices", col, f.name, "boolean",
                                                 [("1", "Checked"), ("0", "Unchecked")], joined))
            elif f.choices:
                item_defs.append(_item_def(f, f.name, codelist=f"{f.name}.choices"))
                dtype = "boolean" if f.field_type in ("yesno", "truefalse") else "text"
                code_lists.append(_code_list(f"{f.name}.choices", f.name, f.name, dtype,
                                             list(f.choices.items())))
            else:
                item_defs.append(_item_def(f, f.name, codelist=None))
            if f.name == d.record_id and project.dags:
                item_defs.append(
                    '\t<ItemDef OID="redcap_data_access_group" Name="redcap_data_access_group" '
                    'DataType="text" Length="999" redcap:Variable="redcap_data_access_group">\n'
                    + _question("Data Access Group") + "\t</ItemDef>\n")
        status = f"{form}_complete"
        item_defs.append(
            f'\t<ItemDef OID="{status}" Name="{status}" DataType="text" Length="1" '
            f'redcap:Variable="{status}" redcap:FieldType="select" '
            'redcap:SectionHeader="Form Status">\n' + _question("Complete?")
            + f'\t\t<CodeListRef CodeListOID="{status}.choices"/>\n\t</ItemDef>\n')
        code_lists.append(_code_list(f"{status}.choices", status, status, "text",
                                     list(_STATUS_CHOICES)))

    return (head + "".join(form_defs) + "".join(group_defs) + "".join(item_defs)
            + "".join(code_lists) + "</MetaDataVersion>\n</Study>\n</ODM>\n")


# ----------------------------------------------------------------------------- reading back
@dataclass
class ProjectXml:
    """A REDCap Project XML as read by :func:`read_project_xml`: the one reader of the
    format, used by the linter/diff (``dictionary``) and by the sandbox, which rebuilds a
    whole project from it (the fields from ``form_labels`` on)."""

    dictionary: Dictionary
    repeating_forms: list[str]
    dag_labels: list[str]
    record_id_field: str
    title: str = ""
    #: the dictionary version this toolkit writes into ProjectNotes ('' for other files)
    version: str = ""
    #: form name -> the instrument's label (``FormDef/@Name``)
    form_labels: dict[str, str] = field(default_factory=dict)
    #: GlobalVariables project settings (purpose, notes, auto-numbering, ...), API names
    settings: dict[str, Any] = field(default_factory=dict)
    #: repeating instruments and events: ``event_name``, ``form_name`` ('' for a repeating
    #: event), ``custom_form_label``
    repeating: list[dict[str, str]] = field(default_factory=list)
    roles: list[dict[str, str]] = field(default_factory=list)
    surveys: dict[str, dict[str, str]] = field(default_factory=dict)
    survey_queue: list[dict[str, str]] = field(default_factory=list)
    #: StudyEventDefs (unique name, label, arm, offsets) and their FormRefs
    events: list[dict[str, Any]] = field(default_factory=list)
    form_event_mapping: list[dict[str, Any]] = field(default_factory=list)
    #: custom Data Quality rules (``<redcap:DataQualityRules>`` attributes: rule_order,
    #: rule_name, rule_logic, real_time_execute)
    data_quality_rules: list[dict[str, str]] = field(default_factory=list)
    #: the ClinicalData element (records), when the file carries data
    clinical: ET.Element | None = field(default=None, repr=False)


def _r(name: str) -> str:
    return f"{{{NS['redcap']}}}{name}"


#: GlobalVariables tags -> API project settings
_SETTINGS = (("Purpose", "purpose"), ("PurposeOther", "purpose_other"),
             ("ProjectNotes", "project_notes"), ("SurveysEnabled", "surveys_enabled"),
             ("RecordAutonumberingEnabled", "record_autonumbering_enabled"),
             ("SchedulingEnabled", "scheduling_enabled"),
             ("CustomRecordLabel", "custom_record_label"),
             ("SecondaryUniqueField", "secondary_unique_field"),
             ("MissingDataCodes", "missing_data_codes"))
_TEXT_SETTINGS = frozenset({"project_notes", "purpose_other"})


def read_project_xml(text: str | bytes, source: str = "<xml>") -> ProjectXml:
    """Read a REDCap Project XML: its metadata as a ``Dictionary``, plus the project setup.

    Form status fields, ``redcap_*`` pseudo-fields (DAG, survey identifier) and survey
    ``<form>_timestamp`` fields are left out (they are not dictionary rows); checkbox options
    are folded back into one field."""
    if isinstance(text, str):  # ElementTree refuses a str that declares its encoding
        text = text.strip().encode("utf-8")
    try:
        root = ET.fromstring(text)
    except ET.ParseError as exc:
        line = exc.position[0] if exc.position else None
        raise DictionaryError(f"not well-formed XML: {exc}", file=source, row=line) from None
    study = root.find("odm:Study", NS)
    mdv = study.find("odm:MetaDataVersion", NS) if study is not None else None
    if study is None or mdv is None:
        raise DictionaryError("no Study/MetaDataVersion element: not a REDCap Project XML",
                              file=source)
    fields, form_labels = _read_fields(mdv)
    g = study.find("odm:GlobalVariables", NS)
    repeating: list[dict[str, str]] = []
    dags: list[str] = []
    settings: dict[str, Any] = {}
    title = version = ""
    if g is not None:
        for ri in g.iter(_r("RepeatingInstrument")):
            repeating.append({"event_name": ri.get(_r("UniqueEventName")) or "",
                              "form_name": ri.get(_r("RepeatInstrument")) or "",
                              "custom_form_label": ri.get(_r("CustomLabel")) or ""})
        for re_ in g.iter(_r("RepeatingEvent")):
            repeating.append({"event_name": re_.get(_r("UniqueEventName")) or "",
                              "form_name": "", "custom_form_label": ""})
        for dag in g.iter(_r("DataAccessGroups")):
            dags.append(dag.get("group_name") or "")
        for tag, key in _SETTINGS:
            el = g.find(f"redcap:{tag}", NS)
            if el is not None:
                v = el.text or ""
                settings[key] = int(v) if v.isdigit() and key not in _TEXT_SETTINGS else v
        title = g.findtext("odm:StudyName", "", NS)
        m = re.search(r"version (\S+)", g.findtext(_r("ProjectNotes"), "") or "")
        version = m.group(1) if m else ""
    events, fem = _read_events(study)
    return ProjectXml(
        Dictionary(fields=fields, source=source),
        [r["form_name"] for r in repeating if r["form_name"]], dags,
        mdv.get(_r("RecordIdField")) or "", title, version,
        form_labels=form_labels, settings=settings, repeating=repeating,
        roles=[dict(r.attrib) for r in root.iter(_r("UserRoles"))],
        surveys={s.get("form_name", ""): dict(s.attrib) for s in root.iter(_r("Surveys"))},
        survey_queue=[dict(q.attrib) for q in root.iter(_r("SurveysQueue"))],
        events=events, form_event_mapping=fem,
        data_quality_rules=[dict(r.attrib) for r in root.iter(_r("DataQualityRules"))],
        clinical=root.find("odm:ClinicalData", NS))


def _read_fields(mdv: ET.Element) -> tuple[list[Field], dict[str, str]]:
    items = {i.get("OID"): i for i in mdv.findall("odm:ItemDef", NS)}
    code_lists = {c.get("OID"): c for c in mdv.findall("odm:CodeList", NS)}
    groups = {g.get("OID"): g for g in mdv.findall("odm:ItemGroupDef", NS)}
    fields: list[Field] = []
    form_labels: dict[str, str] = {}
    seen: set[str] = set()
    for form_def in mdv.findall("odm:FormDef", NS):
        form = form_def.get(_r("FormName")) or (form_def.get("OID") or "").removeprefix("Form.")
        form_labels[form] = form_def.get("Name") or form
        for gref in form_def.findall("odm:ItemGroupRef", NS):
            group = groups.get(gref.get("ItemGroupOID"))
            if group is None:
                continue
            for iref in group.findall("odm:ItemRef", NS):
                var = iref.get(_r("Variable")) or iref.get("ItemOID") or ""
                item = items.get(iref.get("ItemOID"))
                if item is None or var in seen or var.startswith("redcap_") \
                        or var in (f"{form}_complete", f"{form}_timestamp"):
                    continue
                seen.add(var)
                fields.append(_field_from_item(item, var, form, code_lists, len(fields) + 2))
    return fields, form_labels


def _read_events(study: ET.Element) -> tuple[list[dict[str, Any]], list[dict[str, Any]]]:
    events: list[dict[str, Any]] = []
    fem: list[dict[str, Any]] = []
    for se in study.iter(f"{{{NS['odm']}}}StudyEventDef"):
        unique = se.get(_r("UniqueEventName")) or ""
        if not unique:
            continue
        arm = int(se.get(_r("ArmNum")) or 1)
        events.append({"event_name": se.get(_r("EventName")) or "", "arm_num": arm,
                       "arm_name": se.get(_r("ArmName")) or "",
                       "day_offset": se.get(_r("DayOffset")) or "0",
                       "offset_min": se.get(_r("OffsetMin")) or "0",
                       "offset_max": se.get(_r("OffsetMax")) or "0",
                       "unique_event_name": unique,
                       "custom_event_label": se.get(_r("CustomEventLabel")) or ""})
        for fr in se.findall("odm:FormRef", NS):
            form = fr.get(_r("FormName")) or (fr.get("FormOID") or "").removeprefix("Form.")
            fem.append({"arm_num": arm, "unique_event_name": unique, "form": form})
    return events, fem


def _field_from_item(item: ET.Element, var: str, form: str,
                     code_lists: dict[str | None, ET.Element], row: int) -> Field:
    ftype = item.get(_r("FieldType")) or "text"
    ftype = _CSV_FIELD_TYPE.get(ftype, ftype)
    q = item.find("odm:Question/odm:TranslatedText", NS)
    label = q.text or "" if q is not None else ""
    choices = ""
    ref = item.find("odm:CodeListRef", NS)
    if ref is not None:
        cl = code_lists.get(ref.get("CodeListOID"))
        if cl is not None:
            if ftype == "checkbox":
                choices = " | ".join(p.strip() for p in
                                     (cl.get(_r("CheckboxChoices")) or "").split("|"))
            elif ftype in ("radio", "dropdown"):
                choices = " | ".join(
                    f"{it.get('CodedValue')}, "
                    f"{(it.findtext('odm:Decode/odm:TranslatedText', '', NS))}"
                    for it in cl.findall("odm:CodeListItem", NS))
    if ftype == "calc":
        choices = item.get(_r("Calculation")) or ""
    elif ftype == "slider":
        choices = item.get(_r("SliderLabels")) or ""
    validation = item.get(_r("TextValidationType")) or ""
    validation = _CSV_VALIDATION.get(validation, validation)
    lo = hi = ""
    for rc in item.findall("odm:RangeCheck", NS):
        value = rc.findtext("odm:CheckValue", "", NS)
        if rc.get("Comparator") == "GE":
            lo = value
        elif rc.get("Comparator") == "LE":
            hi = value
    raw = dict.fromkeys(COLUMNS, "")
    raw.update({
        "field_name": var, "form_name": form,
        "section_header": item.get(_r("SectionHeader")) or "",
        "field_type": ftype, "field_label": label, "select_choices_or_calculations": choices,
        "field_note": item.get(_r("FieldNote")) or "",
        "text_validation_type_or_show_slider_number": validation,
        "text_validation_min": lo, "text_validation_max": hi,
        "identifier": item.get(_r("Identifier")) or "",
        "branching_logic": item.get(_r("BranchingLogic")) or "",
        "required_field": item.get(_r("RequiredField")) or "",
        "custom_alignment": item.get(_r("CustomAlignment")) or "",
        "question_number": item.get(_r("QuestionNumber")) or "",
        "matrix_group_name": item.get(_r("MatrixGroupName")) or "",
        "matrix_ranking": item.get(_r("MatrixRanking")) or "",
        "field_annotation": item.get(_r("FieldAnnotation")) or "",
    })
    return Field(
        name=var, form=form, section_header=raw["section_header"], field_type=ftype,
        label=label, choices_raw=choices, field_note=raw["field_note"], validation=validation,
        validation_min=lo, validation_max=hi, identifier=raw["identifier"] == "y",
        branching_logic=raw["branching_logic"], required=raw["required_field"] == "y",
        alignment=raw["custom_alignment"], question_number=raw["question_number"],
        matrix_group=raw["matrix_group_name"], matrix_ranking=raw["matrix_ranking"] == "y",
        annotation=raw["field_annotation"], row=row, raw=raw, field_type_raw=ftype)
