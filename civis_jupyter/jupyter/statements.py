"""Split SQL text into statements (quotes, identifiers and comments respected)."""

from __future__ import annotations

import re

__all__ = ["SQL_KEYWORDS", "split_statements", "starts_sql", "with_limit"]


def split_statements(sql: str) -> list[str]:
    """Split SQL on top-level semicolons.

    Parameters
    ----------
    sql : str
        One or more statements.

    Returns
    -------
    list of str
        Non-empty statements without their trailing semicolons.
    """
    out: list[str] = []
    buf: list[str] = []
    i, n = 0, len(sql)
    while i < n:
        ch = sql[i]
        nxt = sql[i + 1] if i + 1 < n else ""
        if ch in ("'", '"'):
            end = i + 1
            while end < n:
                if sql[end] == ch:
                    if end + 1 < n and sql[end + 1] == ch:  # doubled quote
                        end += 2
                        continue
                    break
                end += 1
            buf.append(sql[i : end + 1])
            i = end + 1
            continue
        if ch == "-" and nxt == "-":
            end = sql.find("\n", i)
            end = n if end < 0 else end
            buf.append(sql[i:end])
            i = end
            continue
        if ch == "/" and nxt == "*":
            end = sql.find("*/", i + 2)
            end = n if end < 0 else end + 2
            buf.append(sql[i:end])
            i = end
            continue
        if ch == ";":
            out.append("".join(buf))
            buf = []
            i += 1
            continue
        buf.append(ch)
        i += 1
    out.append("".join(buf))
    return [s.strip() for s in out if _has_code(s)]


def _has_code(statement: str) -> bool:
    text = statement.strip()
    while text:
        if text.startswith("--"):
            nl = text.find("\n")
            text = "" if nl < 0 else text[nl + 1 :].strip()
        elif text.startswith("/*"):
            end = text.find("*/")
            text = "" if end < 0 else text[end + 2 :].strip()
        else:
            return True
    return False


def with_limit(sql: str, limit: int) -> str:
    """Limit the rows the last statement returns.

    Parameters
    ----------
    sql : str
        One or more statements; the last one must be a query.
    limit : int
        Maximum number of rows.

    Returns
    -------
    str
        The statements, the last wrapped as ``SELECT * FROM (...) LIMIT n``.
    """
    statements = split_statements(sql)
    if not statements:
        return sql
    last = statements[-1]
    statements[-1] = f"SELECT * FROM (\n{last}\n) AS civis_limited LIMIT {int(limit)}"
    return ";\n".join(statements)


#: Words that start SQL in the line form of %civis_sql (any other bare word
#: there is the database). Compared case-insensitively.
SQL_KEYWORDS = frozenset(
    (
        "abort",
        "alter",
        "analyze",
        "attach",
        "begin",
        "call",
        "checkpoint",
        "cluster",
        "comment",
        "commit",
        "copy",
        "create",
        "deallocate",
        "declare",
        "delete",
        "desc",
        "describe",
        "detach",
        "discard",
        "drop",
        "end",
        "execute",
        "explain",
        "export",
        "from",
        "grant",
        "import",
        "insert",
        "install",
        "listen",
        "load",
        "lock",
        "merge",
        "notify",
        "pivot",
        "pragma",
        "prepare",
        "refresh",
        "reindex",
        "release",
        "reset",
        "revoke",
        "rollback",
        "savepoint",
        "select",
        "set",
        "show",
        "start",
        "summarize",
        "table",
        "truncate",
        "unload",
        "unpivot",
        "update",
        "use",
        "vacuum",
        "values",
        "with",
    )
)

_WORD = re.compile(r"[A-Za-z_]+")


def starts_sql(text: str) -> bool:
    """Whether ``text`` begins with SQL: a keyword, ``(`` or a ``/*`` comment.

    Parameters
    ----------
    text : str
        Text with no leading whitespace.

    Returns
    -------
    bool
        True for ``SELECT 1``, ``with x as ...``, ``(select 1)`` or
        ``select*from t``; False for ``mydb``, ``selection`` or ``select_db``.
    """
    if text.startswith(("(", "/*")):
        return True
    match = _WORD.match(text)
    if match is None or match.group().lower() not in SQL_KEYWORDS:
        return False
    following = text[match.end() : match.end() + 1]
    return not (following.isalnum() or following in ("_", "$"))
