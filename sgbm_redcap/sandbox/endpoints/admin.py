"""Users, user roles, DAGs and their mappings, and the project log (REDCAP_API.md §4.6)."""

from __future__ import annotations

import json
import secrets
import string
from typing import Any

from ..handler import Context, Response, endpoint, update_config
from ..meta import unique_name
from ..project import USER_RIGHTS, add_dag, user_record
from ..protocol import MIME, ApiError, encode_rows, encode_scalar, parse_data

_FLAG_SKIP = {"username", "email", "firstname", "lastname", "expiration", "data_access_group",
              "data_access_group_id", "data_access_group_label", "forms", "forms_export",
              "unique_role_name", "role_label"}


def _export(ctx: Context, rows: list[dict[str, Any]], cols: list[str] | None = None) -> Response:
    if ctx.req.format == "csv":
        # REDCap's CSV writes a user's or role's form levels as "form:level,form:level"
        # (REDCapR reads its users export that way); json and xml keep the mapping
        rows = [{k: (",".join(f"{f}:{v}" for f, v in val.items())
                     if k in ("forms", "forms_export") and isinstance(val, dict) else val)
                 for k, val in r.items()} for r in rows]
    body, ctype = encode_rows(rows, ctx.req.format, cols)
    return Response(200, body, ctype)


def _count(ctx: Context, n: int) -> Response:
    body, ctype = encode_scalar(n, ctx.req.return_format)
    return Response(200, body, ctype)


def _forms_value(value: Any, forms: list[str], default: int) -> dict[str, int]:
    """``forms`` arrives as a dict (json) or ``"a:1,b:0"`` (csv) — both become a dict."""
    out = {f: default for f in forms}
    if isinstance(value, str) and value.startswith("{"):
        value = json.loads(value)
    if isinstance(value, dict):
        out.update({k: int(v) for k, v in value.items()})
    elif isinstance(value, str) and value:
        for part in value.split(","):
            k, _, v = part.partition(":")
            if k.strip():
                out[k.strip()] = int(v or 0)
    return out


def _merge_rights(target: dict[str, Any], row: dict[str, str], forms: list[str]) -> None:
    for k, v in row.items():
        if k in ("forms", "forms_export"):
            target[k] = _forms_value(v, forms, 0)
        elif k in _FLAG_SKIP:
            target[k] = v
        elif k:
            try:
                target[k] = int(v) if v != "" else 0
            except (TypeError, ValueError):
                target[k] = v


def _by_username(ctx: Context) -> list[dict[str, Any]]:
    """The project's users as REDCap lists them: sorted by username (case-insensitive)."""
    return sorted(ctx.config.get("users", []), key=lambda u: (u["username"].lower(),
                                                              u["username"]))


def _no_dag_user(ctx: Context) -> None:
    if ctx.user_dag:
        raise ApiError("You do not have permission to use this method because you are in a "
                       "Data Access Group.", 403)


# ---------------------------------------------------------------- users


def user_export_row(u: dict[str, Any], dags: dict[str, dict[str, Any]],
                    forms: list[str]) -> dict[str, Any]:
    """A stored user as REDCap's ``content=user`` export shows it: these keys in this order,
    rights as numbers, a level for every one of the project's ``forms``."""
    d = dags.get(u.get("data_access_group", "") or "")
    row: dict[str, Any] = {k: u.get(k, "") for k in ("username", "email", "firstname",
                                                     "lastname", "expiration")}
    row["data_access_group"] = d["unique_group_name"] if d else ""
    row["data_access_group_id"] = d["data_access_group_id"] if d else ""
    row["data_access_group_label"] = d["data_access_group_name"] if d else ""
    for right in USER_RIGHTS:
        try:
            row[right] = int(u.get(right, 0) or 0)
        except (TypeError, ValueError):
            row[right] = 0
    for key in ("forms", "forms_export"):
        levels = u.get(key) or {}
        row[key] = {f: int(levels.get(f, 0) or 0) for f in forms}
    return row


@endpoint("user")
def export_users(ctx: Context) -> Response:
    ctx.require("api_export")
    dags = {d["unique_group_name"]: d for d in ctx.config.get("dags", [])}
    forms = ctx.meta.forms
    return _export(ctx, [user_export_row(u, dags, forms) for u in _by_username(ctx)])


@endpoint("user", "import")
def import_users(ctx: Context) -> Response:
    ctx.require("user_rights")
    rows = parse_data(ctx.req.get("data"), ctx.req.format)

    def change(config: dict[str, Any]) -> None:
        forms = [f for f in dict.fromkeys(r["form_name"] for r in config["metadata"])]
        for r in rows:
            name = r.get("username", "").strip()
            if not name:
                raise ApiError("The username is missing.")
            u = next((x for x in config["users"] if x["username"] == name), None)
            if u is None:
                u = user_record(name, forms, full=False)
                config["users"].append(u)
            _merge_rights(u, r, forms)

    update_config(ctx, change, "Add/update users (API)")
    return _count(ctx, len(rows))


@endpoint("user", "delete")
def delete_users(ctx: Context) -> Response:
    ctx.require("user_rights")
    names = ctx.req.listing("users")
    known = {u["username"] for u in ctx.config.get("users", [])}
    bad = [n for n in names if n not in known]
    if bad or not names:
        raise ApiError("The following users are not valid: " + ", ".join(bad))

    def change(config: dict[str, Any]) -> None:
        config["users"] = [u for u in config["users"] if u["username"] not in names]

    update_config(ctx, change, "Delete users (API)")
    with ctx.store.write() as conn:
        conn.executemany("DELETE FROM tokens WHERE pid=? AND username=?",
                         [(ctx.pid, n) for n in names])
    # REDCap answers a user deletion with the bare count whatever the format (PyCap's
    # doctest: ``delete_users(..., return_format_type="xml")`` -> '1')
    return Response(200, str(len(names)).encode(), MIME.get(ctx.req.return_format, MIME["json"]))


# ---------------------------------------------------------------- roles


def _role_name(existing: set[str]) -> str:
    alphabet = string.ascii_uppercase + string.digits
    while True:
        name = "U-" + "".join(secrets.choice(alphabet) for _ in range(10))
        if name not in existing:
            return name


#: a role's rights in REDCap's export order; REDCap sends them as strings ('0', '1', '2'),
#: the ``forms``/``forms_export`` levels as numbers (PyCap's export_user_roles doctest)
ROLE_RIGHTS = (
    "design", "alerts", "user_rights", "data_access_groups", "reports", "stats_and_charts",
    "manage_survey_participants", "calendar", "data_import_tool", "data_comparison_tool",
    "logging", "email_logging", "file_repository", "data_quality_create", "data_quality_execute",
    "api_export", "api_import", "api_modules", "mobile_app", "mobile_app_download_data",
    "record_create", "record_rename", "record_delete", "lock_records_customization",
    "lock_records", "lock_records_all_forms",
)


def role_export_row(role: dict[str, Any], forms: list[str]) -> dict[str, Any]:
    """A stored role as REDCap's ``content=userRole`` export shows it: every right, and a
    level for every one of the project's ``forms`` (0 where none was set)."""
    row: dict[str, Any] = {"unique_role_name": role.get("unique_role_name", ""),
                           "role_label": role.get("role_label", "")}
    for right in ROLE_RIGHTS:
        value = role.get(right, 0)
        row[right] = str(value if value not in (None, "") else 0)
    for key in ("forms", "forms_export"):
        levels = role.get(key) or {}
        row[key] = {f: int(levels.get(f, 0) or 0) for f in forms}
    return row


@endpoint("userRole")
def export_roles(ctx: Context) -> Response:
    ctx.require("api_export")
    forms = ctx.meta.forms
    return _export(ctx, [role_export_row(r, forms) for r in ctx.config.get("roles", [])])


@endpoint("userRole", "import")
def import_roles(ctx: Context) -> Response:
    ctx.require("user_rights")
    rows = parse_data(ctx.req.get("data"), ctx.req.format)

    def change(config: dict[str, Any]) -> None:
        forms = list(dict.fromkeys(r["form_name"] for r in config["metadata"]))
        existing = {r["unique_role_name"] for r in config["roles"]}
        for r in rows:
            unique = r.get("unique_role_name", "").strip()
            role = next((x for x in config["roles"] if unique and x["unique_role_name"] == unique),
                        None)
            if role is None:
                if not r.get("role_label", "").strip():
                    raise ApiError("The role_label is missing.")
                role = {"unique_role_name": _role_name(existing), "role_label": ""}
                existing.add(role["unique_role_name"])
                config["roles"].append(role)
            _merge_rights(role, {k: v for k, v in r.items() if k != "unique_role_name"}, forms)

    update_config(ctx, change, "Add/update user roles (API)")
    return _count(ctx, len(rows))


@endpoint("userRole", "delete")
def delete_roles(ctx: Context) -> Response:
    ctx.require("user_rights")
    names = ctx.req.listing("roles")
    known = {r["unique_role_name"] for r in ctx.config.get("roles", [])}
    bad = [n for n in names if n not in known]
    if bad or not names:
        raise ApiError("The following roles are not valid: " + ", ".join(bad))

    def change(config: dict[str, Any]) -> None:
        config["roles"] = [r for r in config["roles"] if r["unique_role_name"] not in names]
        for u in config["users"]:
            if u.get("role") in names:
                u.pop("role")

    update_config(ctx, change, "Delete user roles (API)")
    return _count(ctx, len(names))


@endpoint("userRoleMapping")
def export_role_mapping(ctx: Context) -> Response:
    ctx.require("api_export")
    rows = [{"username": u["username"], "unique_role_name": u.get("role", ""),
             "data_access_group": u.get("data_access_group", "")}
            for u in _by_username(ctx)]
    return _export(ctx, rows, ["username", "unique_role_name", "data_access_group"])


@endpoint("userRoleMapping", "import")
def import_role_mapping(ctx: Context) -> Response:
    ctx.require("user_rights")
    rows = parse_data(ctx.req.get("data"), ctx.req.format)

    def change(config: dict[str, Any]) -> None:
        roles = {r["unique_role_name"] for r in config["roles"]}
        for r in rows:
            u = next((x for x in config["users"] if x["username"] == r.get("username")), None)
            role = r.get("unique_role_name", "")
            if u is None or (role and role not in roles):
                raise ApiError(f"Invalid username or role: {r.get('username')}/{role}")
            u["role"] = role

    update_config(ctx, change, "Assign users to roles (API)")
    return _count(ctx, len(rows))


# ---------------------------------------------------------------- DAGs


@endpoint("dag")
def export_dags(ctx: Context) -> Response:
    ctx.require("api_export")
    _no_dag_user(ctx)
    rows = [dict(d) for d in ctx.config.get("dags", [])]
    return _export(ctx, rows, ["data_access_group_name", "unique_group_name",
                               "data_access_group_id"])


@endpoint("dag", "import")
def import_dags(ctx: Context) -> Response:
    ctx.require("data_access_groups")
    _no_dag_user(ctx)
    rows = parse_data(ctx.req.get("data"), ctx.req.format)
    def change(config: dict[str, Any]) -> None:
        for r in rows:
            label = r.get("data_access_group_name", "").strip()
            unique = r.get("unique_group_name", "").strip()
            if not label:
                raise ApiError("The data_access_group_name is missing.")
            if unique:
                dag = next((d for d in config["dags"] if d["unique_group_name"] == unique), None)
                if dag is None:
                    raise ApiError(f"The unique_group_name '{unique}' is not valid.")
                dag["data_access_group_name"] = label
            else:
                add_dag(config, label)

    update_config(ctx, change, "Add/update DAGs (API)")
    return _count(ctx, len(rows))


@endpoint("dag", "delete")
def delete_dags(ctx: Context) -> Response:
    ctx.require("data_access_groups")
    _no_dag_user(ctx)
    names = ctx.req.listing("dags")
    known = {d["unique_group_name"] for d in ctx.config.get("dags", [])}
    bad = [n for n in names if n not in known]
    if bad or not names:
        raise ApiError('The following values in the parameter "dags" are not valid: '
                       + ", ".join(f"'{b}'" for b in bad))

    def change(config: dict[str, Any]) -> None:
        config["dags"] = [d for d in config["dags"] if d["unique_group_name"] not in names]
        for u in config["users"]:
            if u.get("data_access_group") in names:
                u["data_access_group"] = ""

    update_config(ctx, change, "Delete DAGs (API)")
    with ctx.store.write() as conn:
        conn.executemany("UPDATE records SET dag='' WHERE pid=? AND dag=?",
                         [(ctx.pid, n) for n in names])
    return _count(ctx, len(names))


@endpoint("dag", "switch")
def switch_dag(ctx: Context) -> Response:
    dag = ctx.req.get("dag")
    known = {d["unique_group_name"] for d in ctx.config.get("dags", [])}
    if dag and dag not in known:
        raise ApiError(f"The DAG '{dag}' is not valid.")

    def change(config: dict[str, Any]) -> None:
        for u in config["users"]:
            if u["username"] == ctx.username:
                u["data_access_group"] = dag

    update_config(ctx, change, f"Switch DAG (API) {dag}")
    return Response(200, b"1", MIME["csv"])


@endpoint("userDagMapping")
def export_user_dags(ctx: Context) -> Response:
    ctx.require("api_export")
    rows = [{"username": u["username"], "redcap_data_access_group": u.get("data_access_group", "")}
            for u in _by_username(ctx)]
    return _export(ctx, rows, ["username", "redcap_data_access_group"])


@endpoint("userDagMapping", "import")
def import_user_dags(ctx: Context) -> Response:
    ctx.require("data_access_groups")
    _no_dag_user(ctx)
    rows = parse_data(ctx.req.get("data"), ctx.req.format)

    def change(config: dict[str, Any]) -> None:
        known = {d["unique_group_name"] for d in config["dags"]}
        for r in rows:
            u = next((x for x in config["users"] if x["username"] == r.get("username")), None)
            dag = r.get("redcap_data_access_group", "").strip()
            if u is None or (dag and dag not in known):
                raise ApiError(f"Invalid username or DAG: {r.get('username')}/{dag}")
            u["data_access_group"] = dag

    update_config(ctx, change, "Assign users to DAGs (API)")
    return _count(ctx, len(rows))


# ---------------------------------------------------------------- log

_LOGTYPES = {
    "export": ("export",), "manage": ("manage",), "user": ("user",),
    "record": ("record_add", "record_edit", "record_delete"), "record_add": ("record_add",),
    "record_edit": ("record_edit",), "record_delete": ("record_delete",),
    "lock_record": ("lock_record",), "page_view": ("page_view",),
}


@endpoint("log")
def export_log(ctx: Context) -> Response:
    ctx.require("logging")
    req = ctx.req
    conds, args = ["pid=?"], [ctx.pid]
    logtype = req.get("logtype")
    if logtype in _LOGTYPES:
        kinds = _LOGTYPES[logtype]
        conds.append(f"logtype IN ({','.join('?' * len(kinds))})")
        args += kinds
    for param, col in (("user", "username"), ("record", "record"), ("dag", "dag")):
        if req.get(param):
            conds.append(f"{col}=?")
            args.append(req.get(param))
    if req.get("beginTime"):
        conds.append("ts>=?")
        args.append(req.get("beginTime"))
    if req.get("endTime"):
        conds.append("ts<=?")
        args.append(req.get("endTime"))
    sql = ("SELECT ts, username, action, details, record FROM log WHERE "
           + " AND ".join(conds) + " ORDER BY id DESC")
    rows = [{"timestamp": ts[:16], "username": u, "action": a, "details": d, "record": r}
            for ts, u, a, d, r in ctx.store.conn.execute(sql, args)]
    return _export(ctx, rows, ["timestamp", "username", "action", "details", "record"])


__all__ = ["unique_name"]
