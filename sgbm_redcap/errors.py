"""One rooted exception hierarchy for the whole toolkit.

::

    SgbmRedcapError
      ConfigError             missing/invalid setting; names the setting and where it was read
      DictionaryError         a data dictionary cannot be read; names file, row, column, rule
      LogicError
        LogicSyntaxError      REDCap logic that does not parse; has .offset and .text
      RedcapApiError          a REDCap API call failed; has .call, .status_code, .redcap_message
        RedcapAuthError       401/403: the token was rejected
        RedcapConnectionError timeouts, refused/dropped connections, TLS problems
      OutputError             an output file or folder cannot be written; has .path, .option
      JobLockedError          another run holds the job lock; has .lock_path
      SourceDataError         records (an export file or a pull) that cannot be read or do not
                              match their dictionary; has .file, .column
      CheckDefinitionError    a check declaration is malformed; has .rule_id
      QueryLifecycleError     an illegal data-query state transition
      AnalysisInputError      analysis input that cannot be used; has .column
      CutError                a data cut that cannot be used; has .path, .file
        CutIntegrityError     a cut's files do not match its manifest (exit 4)
        CutMismatchError      two cuts of different projects compared (exit 2)

Check *findings* are data (``sgbm_redcap.checks.Finding``), never exceptions.
"""

from __future__ import annotations


class SgbmRedcapError(Exception):
    """Root of every error this package raises on purpose."""


class ConfigError(SgbmRedcapError):
    def __init__(self, message: str, *, setting: str | None = None, source: str | None = None):
        self.setting = setting
        self.source = source
        super().__init__(message)


class DictionaryError(SgbmRedcapError):
    """A dictionary file cannot be read. ``row`` is the 1-based line of the CSV record
    (header = row 1), ``column`` the header name or position."""

    def __init__(
        self,
        message: str,
        *,
        file: str | None = None,
        row: int | None = None,
        column: str | None = None,
        rule: str | None = None,
    ):
        self.file = file
        self.row = row
        self.column = column
        self.rule = rule
        where = ", ".join(
            p
            for p in (
                f"file {file}" if file else "",
                f"row {row}" if row is not None else "",
                f"column {column!r}" if column else "",
                f"rule {rule}" if rule else "",
            )
            if p
        )
        super().__init__(f"{message} ({where})" if where else message)


class LogicError(SgbmRedcapError):
    """Base for REDCap logic problems."""


class LogicSyntaxError(LogicError):
    """Logic text that does not parse. ``offset`` is the 0-based character offset, ``reason``
    the message without the position. The message counts characters from 1, the way a
    person counts them in the logic box, and quotes the logic from there on."""

    def __init__(self, message: str, *, offset: int, text: str = ""):
        self.offset = offset
        self.text = text
        self.reason = message
        super().__init__(f"{message}, {_where_in_logic(text, offset)}")


def _where_in_logic(text: str, offset: int) -> str:
    rest = " ".join(text[offset:].split())
    if not rest:
        return f"at character {offset + 1}, the end of the logic"
    if len(rest) > 30:
        rest = rest[:30] + "..."
    return f'at character {offset + 1}, where it reads "{rest}"'


class RedcapApiError(SgbmRedcapError):
    """A REDCap API call failed. ``call`` names it (e.g. ``export_records``),
    ``redcap_message`` is REDCap's own error text when it sent one."""

    def __init__(
        self,
        message: str,
        *,
        call: str | None = None,
        status_code: int | None = None,
        redcap_message: str | None = None,
    ):
        self.call = call
        self.status_code = status_code
        self.redcap_message = redcap_message
        super().__init__(message)


class RedcapAuthError(RedcapApiError):
    """The token was rejected (HTTP 401/403)."""


class RedcapConnectionError(RedcapApiError):
    """REDCap could not be reached: timeout, refused or dropped connection, TLS failure."""


class OutputError(SgbmRedcapError):
    """An output file or folder cannot be written (``option`` names the command-line option
    it came from, e.g. ``--out``)."""

    def __init__(self, message: str, *, path: str | None = None, option: str | None = None):
        self.path = path
        self.option = option
        super().__init__(message)


class JobLockedError(SgbmRedcapError):
    """Another run (a sweep, the scheduler) holds the job lock."""

    def __init__(self, message: str, *, lock_path: str | None = None):
        self.lock_path = lock_path
        super().__init__(message)


class SourceDataError(SgbmRedcapError):
    """Records that cannot be read, or do not match the dictionary they are typed with."""

    def __init__(self, message: str, *, file: str | None = None, column: str | None = None):
        self.file = file
        self.column = column
        super().__init__(message)


class CheckDefinitionError(SgbmRedcapError):
    def __init__(self, message: str, *, rule_id: str | None = None):
        self.rule_id = rule_id
        super().__init__(message)


class QueryLifecycleError(SgbmRedcapError):
    def __init__(self, message: str, *, query_id: str | None = None):
        self.query_id = query_id
        super().__init__(message)


class AnalysisInputError(SgbmRedcapError):
    def __init__(self, message: str, *, column: str | None = None):
        self.column = column
        super().__init__(message)


class CutError(SgbmRedcapError):
    """A data cut (``sgbm_redcap.cuts``) that cannot be used; ``path`` is its folder,
    ``file`` the file at fault."""

    exit_code = 1

    def __init__(self, message: str, *, path: str | None = None, file: str | None = None):
        self.path = path
        self.file = file
        super().__init__(message)


class CutIntegrityError(CutError):
    """A cut whose files do not match its manifest (changed, added, missing) or that has
    none: it is refused, never read. Exit code 4 (``cli.exits.CUT_REFUSED``)."""

    exit_code = 4


class CutMismatchError(CutError):
    """Two cuts of different projects given to one comparison: a usage error (exit 2)."""

    exit_code = 2

    def __init__(self, message: str, *, old: str | None = None, new: str | None = None):
        self.old = old
        self.new = new
        super().__init__(message, path=new)
