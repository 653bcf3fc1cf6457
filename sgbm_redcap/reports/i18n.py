"""The words of the site-facing documents (query listings, the codebook, the data-quality
report's site pages) in each language a site can have (``language`` of a DAG in
project.toml). The CRF's own text (instrument titles, field labels, choices) is not here: it
comes from the project's translation (``StudyProject.translation``); these are only the
headings and sentences the toolkit itself writes. The monthly report for the sponsor stays
English and does not use this module.
"""

from __future__ import annotations

import re
from typing import Any

EN, ZH = "en", "zh-CN"

_TEXT: dict[str, dict[str, str]] = {
    "listing_title": {EN: "Data queries", ZH: "数据质疑"},
    "listing_header": {EN: "data queries", ZH: "数据质疑"},
    "listing_intro": {
        EN: "Data as of {cutoff} · generated {generated}. Answer each query in REDCap, in the "
            "record's <b>Data queries</b> instrument (field \"Site response\"), and correct "
            "the data where needed. The next sweep closes queries whose problem is gone and "
            "reopens answered ones whose problem persists.",
        ZH: "数据截至 {cutoff} · 生成于 {generated}。请在 REDCap 中该记录的<b>数据质疑</b>表单"
            "（“中心回复”字段）逐条回复，并在需要时更正数据。下一次质疑程序运行时，问题已解决的"
            "质疑将关闭；已回复但问题仍在的质疑将重开。"},
    "open_or_reopened": {EN: "Open or reopened", ZH: "待处理或已重开"},
    "overdue": {EN: "{n} open for more than 30 days", ZH: "{n} 条已超过 30 天未解决"},
    "answered_waiting": {EN: "Answered, awaiting review", ZH: "已回复，待复核"},
    "closed": {EN: "Closed", ZH: "已关闭"},
    "to_answer": {EN: "Queries to answer", ZH: "待回复的质疑"},
    "to_review": {EN: "Answered, to be reviewed by the next sweep",
                  ZH: "已回复，待下一次质疑程序复核"},
    "none_open": {EN: "No open query: thank you.", ZH: "没有待处理的质疑，谢谢。"},
    "none": {EN: "None.", ZH: "无。"},
    "col_record": {EN: "Record", ZH: "记录"},
    "col_instrument": {EN: "Instrument", ZH: "表单"},
    "col_field": {EN: "Field", ZH: "字段"},
    "col_message": {EN: "What to check", ZH: "需核查的内容"},
    "col_status": {EN: "Status", ZH: "状态"},
    "col_raised": {EN: "Raised", ZH: "发出日期"},
    "col_days": {EN: "Days open", ZH: "天数"},
    "col_rule": {EN: "Rule", ZH: "规则"},
    "col_note": {EN: "Sweep note", ZH: "程序备注"},
    "instance": {EN: "#{n}", ZH: "#{n}"},
    # codebook
    "codebook": {EN: "codebook", ZH: "数据字典（CRF 说明）"},
    "codebook_intro": {
        EN: "The REDCap data dictionary as a reference for site staff: every instrument and "
            "field, the question as it appears on screen, the kind of answer expected, the "
            "allowed codes, and when a field is shown.",
        ZH: "供中心人员参考的 REDCap 数据字典：每个表单和字段、屏幕上显示的问题、应填写的答案类型、"
            "允许的编码，以及字段何时显示。"},
    "dictionary_version": {EN: "Dictionary version", ZH: "数据字典版本"},
    "instruments": {EN: "Instruments", ZH: "表单"},
    "fields": {EN: "Fields", ZH: "字段"},
    "generated": {EN: "Generated", ZH: "生成时间"},
    "language": {EN: "Language", ZH: "语言"},
    "codebook_badges": {
        EN: "Fields marked <span class=\"badge id\">identifier</span> hold directly identifying "
            "data. They stay in REDCap at the site: no report, listing or export made by the "
            "toolkit ever shows them. <span class=\"badge\">required</span> fields must be "
            "filled before a form is marked complete. Repeating instruments can be added as "
            "many times as needed (one per event).",
        ZH: "标有<span class=\"badge id\">标识符</span>的字段含直接身份信息，只保存在中心的 REDCap "
            "中，本工具生成的任何报告、清单或导出都不会显示。<span class=\"badge\">必填</span>"
            "字段须填写后才能将表单标为完成。重复表单可按需多次添加（每个事件一条）。"},
    "identifier": {EN: "identifier", ZH: "标识符"},
    "required": {EN: "required", ZH: "必填"},
    "repeating": {EN: "repeating", ZH: "重复表单"},
    "instrument_note": {EN: "REDCap instrument {name} · {n} fields",
                        ZH: "REDCap 表单 {name} · {n} 个字段"},
    "col_variable": {EN: "Variable", ZH: "变量名"},
    "col_question": {EN: "Question", ZH: "问题"},
    "col_answer": {EN: "Answer", ZH: "答案"},
    "shown_when": {EN: "Shown when", ZH: "显示条件"},
    "range_word": {EN: "range", ZH: "范围"},
    # data-quality report, site pages
    "site_page": {EN: "Site page: {site}", ZH: "中心页：{site}"},
    "site_findings": {EN: "Check findings", ZH: "核查发现"},
    "site_completeness": {EN: "Required fields by instrument", ZH: "各表单必填字段完成情况"},
    "errors": {EN: "Errors", ZH: "错误"},
    "warnings": {EN: "Warnings", ZH: "警告"},
    "patients": {EN: "Patients with a finding", ZH: "有发现的患者数"},
    "expected": {EN: "Required answers expected", ZH: "应填必填项"},
    "filled": {EN: "Filled", ZH: "已填"},
    "complete": {EN: "Complete", ZH: "完成率"},
    "queries_open": {EN: "Queries open now", ZH: "当前待处理质疑"},
    "no_finding": {EN: "No finding.", ZH: "无发现。"},
}

#: the sweep's notes (sgbm_redcap.queries.reconcile) and their Chinese, as (pattern, text)
_NOTES_ZH = (
    (re.compile(r"^Closed by the sweep on (\S+): the problem is no longer found in the data\."),
     "质疑程序于 {0} 关闭：数据中已不再发现该问题。"),
    (re.compile(r"^Reopened by the sweep on (\S+): the data still show the problem after the "
                r"site's answer\."), "质疑程序于 {0} 重开：中心回复后数据仍显示该问题。"),
    (re.compile(r"^Reopened by the sweep on (\S+): the problem is found again\."),
     "质疑程序于 {0} 重开：再次发现该问题。"),
    (re.compile(r"^Closed by the sweep on (\S+): duplicate of instance (\d+)\."),
     "质疑程序于 {0} 关闭：与第 {1} 条重复。"),
)


def language_of(language: str | None) -> str:
    """The catalogue language for a DAG language (``zh``, ``zh-CN``, ``zh-Hans`` → zh-CN)."""
    return ZH if (language or "").lower().startswith("zh") else EN


def text(language: str | None, key: str, **values: Any) -> str:
    """The toolkit's words ``key`` in ``language`` (English where none is written)."""
    entry = _TEXT[key]
    return entry.get(language_of(language), entry[EN]).format(**values)


def words(language: str | None) -> dict[str, str]:
    """Every plain (placeholder-free) word of the catalogue in ``language``, for templates."""
    return {key: text(language, key) for key, entry in _TEXT.items()
            if "{" not in entry[EN]}


def sweep_note(note: str, language: str | None, message: str = "") -> str:
    """A sweep note as a site reads it: in the site's language, without the query's own
    message repeated (notes written before that rule carried it)."""
    note = (note or "").strip()
    if message and message.strip() and note.endswith(message.strip()):
        note = note[: -len(message.strip())].rstrip()
    if language_of(language) != ZH:
        return note
    for pattern, zh in _NOTES_ZH:
        match = pattern.match(note)
        if match:
            return zh.format(*match.groups())
    return note
