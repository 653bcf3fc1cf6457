"""``file`` (file-upload fields), ``fileRepository`` and ``pdf`` (REDCAP_API.md §4.6)."""

from __future__ import annotations

import json
import mimetypes
from typing import TYPE_CHECKING, Any

from ..handler import Context, Response, endpoint, update_config
from ..protocol import MIME, ApiError, encode_rows, now

if TYPE_CHECKING:
    from ..core import Sandbox


def _download(name: str, mime: str, content: bytes) -> Response:
    ctype = f'{mime}; name="{name}"'
    if mime.startswith("text/"):
        ctype += ";charset=UTF-8"
    return Response(200, content, ctype)


def store_field_file(sb: Sandbox, pid: int, record: str, event: str, instrument: str,
                     instance: int, field: str, name: str, mime: str, content: bytes) -> int:
    """Save an upload for a file field and point the field's value at it."""
    with sb.store.write() as conn:
        cur = conn.execute("INSERT INTO docs (pid, name, mime, content, created) "
                           "VALUES (?,?,?,?,?)", (pid, name, mime, content, now()))
        doc_id = int(cur.lastrowid or 0)
        key = (record, event, instrument, instance)
        row = sb.store.read_rows(pid, [record], conn=conn).get(key, {})
        row = dict(row, **{field: str(doc_id)})
        row.setdefault(sb.store.meta(pid).record_id, record)
        sb.store.write_rows(conn, pid, {key: row})
    return doc_id


def _file_target(ctx: Context) -> tuple[str, str, str, int, str]:
    req, meta = ctx.req, ctx.meta
    record, field = req.get("record"), req.get("field")
    if not record:
        raise ApiError("The parameter 'record' is missing")
    f = meta.fields.get(field)
    if f is None or f.ftype != "file":
        raise ApiError(f"The field '{field}' does not exist or is not a 'file' field")
    exists = ctx.store.conn.execute("SELECT 1 FROM records WHERE pid=? AND record=?",
                                    (ctx.pid, record)).fetchone()
    if exists is None:
        raise ApiError(f'The record "{record}" does not exist')
    event = req.get("event")
    if meta.longitudinal:
        event = event or meta.event_names[0]
        if meta.event(event) is None:
            raise ApiError("invalid event")
    else:
        event = ""
    instance_raw = req.get("repeat_instance")
    instrument, instance = "", 0
    if meta.repeating_form(f.form, event):
        instrument, instance = f.form, int(instance_raw or 1)
    elif meta.repeating_event(event):
        instance = int(instance_raw or 1)
    return record, event, instrument, instance, field


def _doc_for(ctx: Context, target: tuple[str, str, str, int, str]) -> int | None:
    row = ctx.store.read_rows(ctx.pid, [target[0]]).get(target[:4], {})
    value = str(row.get(target[4], ""))
    return int(value) if value.isdigit() else None


@endpoint("file", "export")
def export_file(ctx: Context) -> Response:
    ctx.require("api_export")
    doc = _doc_for(ctx, _file_target(ctx))
    row = ctx.store.conn.execute("SELECT name, mime, content FROM docs WHERE doc_id=? AND pid=?",
                                 (doc, ctx.pid)).fetchone() if doc else None
    if row is None:
        raise ApiError("There is no file to download for this record")
    return _download(row[0], row[1], bytes(row[2]))


@endpoint("file", "import")
def import_file(ctx: Context) -> Response:
    ctx.require("api_import")
    req = ctx.req
    record = req.get("record")
    if record and ctx.store.conn.execute("SELECT 1 FROM records WHERE pid=? AND record=?",
                                         (ctx.pid, record)).fetchone() is None:
        raise ApiError(f"The record '{record}' does not exist. It must exist to upload a file")
    target = _file_target(ctx)
    upload = req.files.get("file")
    if upload is None:
        raise ApiError("There was a problem uploading the file: no file was sent")
    mime = upload.content_type
    if mime in ("", "application/octet-stream"):
        mime = mimetypes.guess_type(upload.filename)[0] or "application/octet-stream"
    store_field_file(ctx.sb, ctx.pid, *target[:4], target[4], upload.filename, mime,
                     upload.content)
    with ctx.store.write() as conn:
        ctx.log(conn, "record_edit", f"Upload document (API) {target[0]}",
                f"{target[4]} = '{upload.filename}'", target[0])
    return Response(200, b"", MIME["json"])


@endpoint("file", "delete")
def delete_file(ctx: Context) -> Response:
    ctx.require("api_import")
    target = _file_target(ctx)
    doc = _doc_for(ctx, target)
    if doc is None:
        raise ApiError("There is no file to delete for this record")
    with ctx.store.write() as conn:
        row = dict(ctx.store.read_rows(ctx.pid, [target[0]], conn=conn).get(target[:4], {}))
        row.pop(target[4], None)
        ctx.store.write_rows(conn, ctx.pid, {target[:4]: row})
        conn.execute("UPDATE docs SET deleted=1 WHERE doc_id=?", (doc,))
        ctx.log(conn, "record_edit", f"Delete uploaded document (API) {target[0]}", target[4],
                target[0])
    return Response(200, b"", MIME["json"])


# ---------------------------------------------------------------- file repository


def _folders(ctx: Context) -> list[dict[str, Any]]:
    return ctx.config.get("folders", [])


@endpoint("fileRepository", "createFolder")
def create_folder(ctx: Context) -> Response:
    ctx.require("file_repository")
    name = ctx.req.get("name").strip()
    if not name:
        raise ApiError("The parameter 'name' is missing")
    parent = ctx.req.get("folder_id")
    made: dict[str, int] = {}

    def change(config: dict[str, Any]) -> None:
        fid = config["next_ids"]["folder"]
        config["next_ids"]["folder"] = fid + 1
        config.setdefault("folders", []).append({
            "folder_id": fid, "name": name, "parent_id": int(parent) if parent.isdigit() else None,
            "dag_id": ctx.req.get("dag_id"), "role_id": ctx.req.get("role_id"), "deleted": 0})
        made["id"] = fid

    update_config(ctx, change, f"Create folder (API) {name}")
    body, ctype = encode_rows([{"folder_id": made["id"]}], ctx.req.format)
    return Response(200, body, ctype)


@endpoint("fileRepository", "list")
def list_repository(ctx: Context) -> Response:
    ctx.require("file_repository")
    folder = ctx.req.get("folder_id")
    parent = int(folder) if folder.isdigit() else None
    rows: list[dict[str, Any]] = [
        {"folder_id": f["folder_id"], "name": f["name"]} for f in _folders(ctx)
        if f.get("parent_id") == parent and not f.get("deleted")]
    cond = "folder_id=?" if parent is not None else "folder_id IS NULL"
    args: tuple[Any, ...] = (ctx.pid, parent) if parent is not None else (ctx.pid,)
    for doc_id, name in ctx.store.conn.execute(
            f"SELECT doc_id, name FROM docs WHERE pid=? AND in_repository=1 AND deleted=0 AND "
            f"{cond} ORDER BY doc_id", args):
        rows.append({"doc_id": doc_id, "name": name})
    body, ctype = encode_rows(rows, ctx.req.format)
    return Response(200, body, ctype)


@endpoint("fileRepository", "import")
def import_into_repository(ctx: Context) -> Response:
    ctx.require("file_repository")
    upload = ctx.req.files.get("file")
    if upload is None:
        raise ApiError("There was a problem uploading the file: no file was sent")
    folder = ctx.req.get("folder_id")
    mime = mimetypes.guess_type(upload.filename)[0] or upload.content_type
    with ctx.store.write() as conn:
        conn.execute("INSERT INTO docs (pid, name, mime, content, folder_id, in_repository, "
                     "created) VALUES (?,?,?,?,?,1,?)",
                     (ctx.pid, upload.filename, mime, upload.content,
                      int(folder) if folder.isdigit() else None, now()))
        ctx.log(conn, "manage", "Manage/Design ", f"Upload file to File Repository (API) "
                f"{upload.filename}")
    return Response(200, b"", MIME["json"])


def _repo_doc(ctx: Context) -> tuple[int, str, str, bytes]:
    doc = ctx.req.get("doc_id")
    row = ctx.store.conn.execute(
        "SELECT doc_id, name, mime, content FROM docs WHERE pid=? AND doc_id=? AND "
        "in_repository=1 AND deleted=0", (ctx.pid, int(doc) if doc.isdigit() else -1)).fetchone()
    if row is None:
        raise ApiError(f"The doc_id '{doc}' does not exist in the File Repository")
    return row[0], row[1], row[2], bytes(row[3])


@endpoint("fileRepository", "export")
def export_from_repository(ctx: Context) -> Response:
    ctx.require("file_repository")
    _, name, mime, content = _repo_doc(ctx)
    return _download(name, mime, content)


@endpoint("fileRepository", "delete")
def delete_from_repository(ctx: Context) -> Response:
    ctx.require("file_repository")
    doc_id, name, _, _ = _repo_doc(ctx)
    with ctx.store.write() as conn:
        conn.execute("UPDATE docs SET deleted=1 WHERE doc_id=?", (doc_id,))
        ctx.log(conn, "manage", "Manage/Design ", f"Delete file from File Repository (API) {name}")
    return Response(200, b"", MIME["json"])


# ---------------------------------------------------------------- pdf


def _minimal_pdf(lines: list[str]) -> bytes:
    """A valid one-page PDF listing ``lines`` (the sandbox does not render instruments).

    It starts as REDCap's PDFs do (PyCap's export_pdf doctest, recorded from a real server:
    ``%PDF-1.3`` then ``3 0 obj``): the page and its content stream are objects 3 and 4 and
    come first, the page tree (1) and the resources (2) after them, then the font and the
    catalog; the cross-reference table lists them by number.
    """
    text = " Tj T* ".join("(" + ln.replace("\\", "\\\\").replace("(", "\\(")
                          .replace(")", "\\)") + ")" for ln in lines[:60])
    stream = f"BT /F1 10 Tf 40 800 Td 12 TL {text} Tj ET".encode("latin-1", "replace")
    objects = [
        (3, b"<</Type /Page\n/Parent 1 0 R\n/MediaBox [0 0 595.28 841.89]\n"
            b"/Resources 2 0 R\n/Contents 4 0 R>>"),
        (4, b"<</Length " + str(len(stream)).encode() + b">>\nstream\n" + stream
            + b"\nendstream"),
        (1, b"<</Type /Pages\n/Kids [3 0 R ]\n/Count 1\n>>"),
        (5, b"<</Type /Font\n/BaseFont /Helvetica\n/Subtype /Type1\n"
            b"/Encoding /WinAnsiEncoding\n>>"),
        (2, b"<</ProcSet [/PDF /Text]\n/Font <<\n/F1 5 0 R\n>>\n>>"),
        (6, b"<</Type /Catalog\n/Pages 1 0 R\n>>"),
    ]
    out = bytearray(b"%PDF-1.3\n")
    offsets: dict[int, int] = {}
    for num, obj in objects:
        offsets[num] = len(out)
        out += f"{num} 0 obj\n".encode() + obj + b"\nendobj\n"
    xref = len(out)
    size = len(objects) + 1
    out += f"xref\n0 {size}\n0000000000 65535 f \n".encode()
    for num in range(1, size):
        out += f"{offsets[num]:010d} 00000 n \n".encode()
    out += f"trailer\n<<\n/Size {size}\n/Root 6 0 R\n>>\nstartxref\n{xref}\n%%EOF\n".encode()
    return bytes(out)


@endpoint("pdf", "export")
def export_pdf(ctx: Context) -> Response:
    ctx.require("api_export")
    meta = ctx.meta
    instrument = ctx.req.get("instrument")
    forms = [instrument] if instrument else meta.forms
    lines = [ctx.config.get("project_title", "")]
    for form in forms:
        lines.append(meta.form_label(form))
        lines += [f"  {meta.fields[n].label}" for n in meta.form_fields.get(form, [])]
    name = "sandbox.pdf"
    return Response(200, _minimal_pdf(lines), f'application/pdf; name="{name}"')


__all__ = ["json", "store_field_file"]
