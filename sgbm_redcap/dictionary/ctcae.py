"""The CTCAE v5.0 controlled term list behind the ``ae_term`` dropdown, and the pooling
groups the safety tables use (docs/DOMAIN.md §2.2).

Codes are **stable strings of digits**: the first two digits name the System Organ Class
block, the rest number the term inside it. A code is never reused or re-coded once released
(re-coding a choice destroys data, see ``sgbm_redcap.dictionary.diff``); new terms get the
next free number of their block. ``999`` is "Other, specify" (``ae_term_other``).

The list covers the terms that matter for sacituzumab govitecan and for patients with brain
metastases (label items, laboratory terms, nervous-system terms that overlap with radiation)
plus common general terms; anything else is entered as 999 with the verbatim term.
"""

from __future__ import annotations

#: CTCAE v5.0 version string stored with every AE (``ae_ctcae_version``).
CTCAE_VERSION = "5.0"

#: Code of the "Other, specify" choice.
OTHER_TERM_CODE = "999"

#: (code, CTCAE v5.0 term, System Organ Class), in the order the dropdown lists them.
_TERMS: tuple[tuple[str, str, str], ...] = (
    # 10xx Blood and lymphatic system disorders
    ("1001", "Anemia", "Blood and lymphatic system disorders"),
    ("1002", "Febrile neutropenia", "Blood and lymphatic system disorders"),
    # 11xx Investigations
    ("1101", "Neutrophil count decreased", "Investigations"),
    ("1102", "White blood cell decreased", "Investigations"),
    ("1103", "Platelet count decreased", "Investigations"),
    ("1104", "Lymphocyte count decreased", "Investigations"),
    ("1105", "Alanine aminotransferase increased", "Investigations"),
    ("1106", "Aspartate aminotransferase increased", "Investigations"),
    ("1107", "Blood bilirubin increased", "Investigations"),
    ("1108", "Creatinine increased", "Investigations"),
    ("1109", "Alkaline phosphatase increased", "Investigations"),
    ("1110", "GGT increased", "Investigations"),
    ("1111", "Weight loss", "Investigations"),
    # 12xx Gastrointestinal disorders
    ("1201", "Diarrhea", "Gastrointestinal disorders"),
    ("1202", "Nausea", "Gastrointestinal disorders"),
    ("1203", "Vomiting", "Gastrointestinal disorders"),
    ("1204", "Constipation", "Gastrointestinal disorders"),
    ("1205", "Abdominal pain", "Gastrointestinal disorders"),
    ("1206", "Mucositis oral", "Gastrointestinal disorders"),
    ("1207", "Colitis", "Gastrointestinal disorders"),
    ("1208", "Typhlitis", "Gastrointestinal disorders"),
    ("1209", "Dyspepsia", "Gastrointestinal disorders"),
    ("1210", "Abdominal distension", "Gastrointestinal disorders"),
    # 13xx General disorders and administration site conditions
    ("1301", "Fatigue", "General disorders and administration site conditions"),
    ("1302", "Fever", "General disorders and administration site conditions"),
    ("1303", "Edema limbs", "General disorders and administration site conditions"),
    ("1304", "Malaise", "General disorders and administration site conditions"),
    ("1305", "Chills", "General disorders and administration site conditions"),
    ("1306", "Death NOS", "General disorders and administration site conditions"),
    # 14xx Skin and subcutaneous tissue disorders
    ("1401", "Alopecia", "Skin and subcutaneous tissue disorders"),
    ("1402", "Rash maculo-papular", "Skin and subcutaneous tissue disorders"),
    ("1403", "Pruritus", "Skin and subcutaneous tissue disorders"),
    ("1404", "Dry skin", "Skin and subcutaneous tissue disorders"),
    ("1405", "Skin hyperpigmentation", "Skin and subcutaneous tissue disorders"),
    # 15xx Metabolism and nutrition disorders
    ("1501", "Anorexia", "Metabolism and nutrition disorders"),
    ("1502", "Hypokalemia", "Metabolism and nutrition disorders"),
    ("1503", "Hypomagnesemia", "Metabolism and nutrition disorders"),
    ("1504", "Hyponatremia", "Metabolism and nutrition disorders"),
    ("1505", "Hypocalcemia", "Metabolism and nutrition disorders"),
    ("1506", "Hypoalbuminemia", "Metabolism and nutrition disorders"),
    ("1507", "Hyperglycemia", "Metabolism and nutrition disorders"),
    ("1508", "Dehydration", "Metabolism and nutrition disorders"),
    # 16xx Nervous system disorders
    ("1601", "Headache", "Nervous system disorders"),
    ("1602", "Seizure", "Nervous system disorders"),
    ("1603", "Edema cerebral", "Nervous system disorders"),
    ("1604", "Central nervous system necrosis", "Nervous system disorders"),
    ("1605", "Dysgeusia", "Nervous system disorders"),
    ("1606", "Dizziness", "Nervous system disorders"),
    ("1607", "Peripheral sensory neuropathy", "Nervous system disorders"),
    ("1608", "Cognitive disturbance", "Nervous system disorders"),
    ("1609", "Somnolence", "Nervous system disorders"),
    ("1610", "Ataxia", "Nervous system disorders"),
    ("1611", "Intracranial hemorrhage", "Nervous system disorders"),
    ("1612", "Stroke", "Nervous system disorders"),
    ("1613", "Encephalopathy", "Nervous system disorders"),
    ("1614", "Hydrocephalus", "Nervous system disorders"),
    ("1615", "Memory impairment", "Nervous system disorders"),
    ("1616", "Paresthesia", "Nervous system disorders"),
    ("1617", "Dysphasia", "Nervous system disorders"),
    # 17xx Infections and infestations
    ("1701", "Sepsis", "Infections and infestations"),
    ("1702", "Lung infection", "Infections and infestations"),
    ("1703", "Urinary tract infection", "Infections and infestations"),
    ("1704", "Upper respiratory infection", "Infections and infestations"),
    ("1705", "Enterocolitis infectious", "Infections and infestations"),
    # 18xx Immune system disorders / injury, poisoning and procedural complications
    ("1801", "Allergic reaction", "Immune system disorders"),
    ("1802", "Anaphylaxis", "Immune system disorders"),
    ("1803", "Infusion related reaction", "Injury, poisoning and procedural complications"),
    # 19xx Respiratory, thoracic and mediastinal disorders
    ("1901", "Pneumonitis", "Respiratory, thoracic and mediastinal disorders"),
    ("1902", "Dyspnea", "Respiratory, thoracic and mediastinal disorders"),
    ("1903", "Cough", "Respiratory, thoracic and mediastinal disorders"),
    ("1904", "Pleural effusion", "Respiratory, thoracic and mediastinal disorders"),
    # 20xx Renal and urinary disorders
    ("2001", "Acute kidney injury", "Renal and urinary disorders"),
    # 21xx Vascular disorders
    ("2101", "Thromboembolic event", "Vascular disorders"),
    ("2102", "Hypertension", "Vascular disorders"),
    ("2103", "Hypotension", "Vascular disorders"),
    # 22xx Psychiatric disorders
    ("2201", "Insomnia", "Psychiatric disorders"),
    ("2202", "Anxiety", "Psychiatric disorders"),
    ("2203", "Depression", "Psychiatric disorders"),
    ("2204", "Confusion", "Psychiatric disorders"),
    # 23xx Musculoskeletal and connective tissue disorders
    ("2301", "Arthralgia", "Musculoskeletal and connective tissue disorders"),
    ("2302", "Myalgia", "Musculoskeletal and connective tissue disorders"),
    ("2303", "Back pain", "Musculoskeletal and connective tissue disorders"),
    ("2304", "Generalized muscle weakness", "Musculoskeletal and connective tissue disorders"),
    # 24xx Endocrine disorders
    ("2401", "Cushingoid", "Endocrine disorders"),
)

#: code -> CTCAE v5.0 term, dropdown order; ``999`` is last.
CTCAE_TERMS: dict[str, str] = {code: term for code, term, _ in _TERMS}
CTCAE_TERMS[OTHER_TERM_CODE] = "Other, specify"

#: code -> System Organ Class (``999`` has none).
CTCAE_SOC: dict[str, str] = {code: soc for code, _, soc in _TERMS}

#: Pooled preferred terms of the ASCENT publications (DOMAIN.md §2.2): pooled label -> the
#: ``ae_term`` codes counted under it. Without it neutropenia is split in two and
#: under-counted. CTCAE v5.0 itself has no "Neutropenia", "Hemoglobin decreased",
#: "Red blood cell count decreased" or "Leukopenia" term; when a site enters one of those
#: verbatim under 999, ``POOLED_VERBATIM`` maps the (lower-cased) text to its group.
POOLED_TERMS: dict[str, tuple[str, ...]] = {
    "Neutropenia": ("1101",),
    "Anemia": ("1001",),
    "Leukopenia": ("1102",),
}

#: lower-cased verbatim term (``ae_term_other``) -> pooled label.
POOLED_VERBATIM: dict[str, str] = {
    "neutropenia": "Neutropenia",
    "neutrophil count decreased": "Neutropenia",
    "anemia": "Anemia",
    "anaemia": "Anemia",
    "hemoglobin decreased": "Anemia",
    "haemoglobin decreased": "Anemia",
    "red blood cell count decreased": "Anemia",
    "leukopenia": "Leukopenia",
    "leucopenia": "Leukopenia",
    "white blood cell count decreased": "Leukopenia",
    "white blood cell decreased": "Leukopenia",
}


def pooled_term(code: str, verbatim: str = "") -> str | None:
    """The pooled label an AE counts under, or ``None`` when its term is not pooled."""
    for label, codes in POOLED_TERMS.items():
        if code in codes:
            return label
    if code == OTHER_TERM_CODE:
        return POOLED_VERBATIM.get(verbatim.strip().lower())
    return None


def choices_string() -> str:
    """The ``ae_term`` choices in REDCap's ``code, label | code, label`` form."""
    return " | ".join(f"{code}, {term}" for code, term in CTCAE_TERMS.items())
