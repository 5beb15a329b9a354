"""E-mail: sandboxed templates in Italian and English, an unsubscribe link, SMTP.

Why a sandbox: templates are written by marketing users through the dashboard; Jinja2's
:class:`~jinja2.sandbox.ImmutableSandboxedEnvironment` refuses attribute access to Python
internals (``{{ ''.__class__.__mro__ }}``) and mutation, so a template can format the
customer's name but never reach the server. Undefined names are errors (a typo in
``{{ frist_name }}`` fails the journey's ``test``, it does not send "Ciao ,").

A template is a file ``<name>.<locale>.txt``: the first line ``Subject: …``, then the body.
The project's ``activation/templates/`` wins over the shipped ones. Each message carries
``Message-ID: <outbox key@percorso>`` (receivers deduplicate on it after a crash) and a
``List-Unsubscribe`` header with the same signed link the body shows.
"""

from __future__ import annotations

import hashlib
import hmac
import quopri
import smtplib
from dataclasses import dataclass
from email.header import Header
from email.utils import formatdate, parseaddr
from functools import lru_cache
from pathlib import Path
from typing import Any

from percorso.errors import InputError, NotFound

PACKAGED = Path(__file__).with_name("templates")


def unsubscribe_token(secret: bytes, customer_id: str, channel: str = "email") -> str:
    """A link token only percorso can make: ``<customer>.<channel>.<hmac>``."""
    mac = hmac.new(secret, f"unsubscribe|{customer_id}|{channel}".encode(), hashlib.sha256).hexdigest()[:32]
    return f"{customer_id}.{channel}.{mac}"


def read_unsubscribe_token(secret: bytes, token: str) -> tuple[str, str]:
    """``(customer_id, channel)`` of a genuine token; :class:`InputError` for a forged one."""
    try:
        customer_id, channel, _mac = token.split(".")
    except ValueError:
        raise InputError("unsubscribe link is malformed", code="unsubscribe_invalid") from None
    if not hmac.compare_digest(unsubscribe_token(secret, customer_id, channel), token):
        raise InputError("unsubscribe link is not genuine", code="unsubscribe_invalid")
    return customer_id, channel


def _environment() -> Any:
    from jinja2 import StrictUndefined
    from jinja2.sandbox import ImmutableSandboxedEnvironment

    return ImmutableSandboxedEnvironment(undefined=StrictUndefined, autoescape=False, keep_trailing_newline=True)


def template_path(name: str, locale: str, project_dir: Path | None = None) -> Path:
    """The project's template if it has one, else the shipped one; Italian when ``locale`` has none."""
    if not name.replace("_", "").replace("-", "").isalnum():
        raise InputError(f"template name {name!r}: letters, digits, '_' and '-' only", code="template_invalid")
    for loc in (locale, "it"):
        for folder in ([project_dir / "activation" / "templates"] if project_dir else []) + [PACKAGED]:
            path = folder / f"{name}.{loc}.txt"
            if path.exists():
                return path
    shipped = sorted({p.name.split(".")[0] for p in PACKAGED.glob("*.txt")})
    raise NotFound(f"no e-mail template {name!r} ({name}.{locale}.txt); shipped: {', '.join(shipped)}",
                   code="template_not_found")


@lru_cache(maxsize=64)
def _compiled(path: Path, mtime_ns: int) -> tuple[Any, Any]:
    """The subject and body templates of ``path`` (compiled once per file version: a dispatch
    pass renders thousands of messages from one template)."""
    from jinja2 import TemplateError

    text = path.read_text(encoding="utf-8")
    head, _, body = text.partition("\n")
    if not head.lower().startswith("subject:"):
        raise InputError(f"{path}: first line must be 'Subject: …'", code="template_invalid")
    if "unsubscribe_url" not in body:
        raise InputError(f"{path}: a marketing e-mail must show {{{{ unsubscribe_url }}}}", code="template_invalid")
    env = _environment()
    try:
        return env.from_string(head.split(":", 1)[1].strip()), env.from_string(body)
    except TemplateError as exc:
        raise InputError(f"{path}: {exc}", code="template_invalid") from None


def render(name: str, locale: str, context: dict[str, Any], project_dir: Path | None = None) -> tuple[str, str]:
    """``(subject, body)`` of template ``name`` in ``locale`` with ``context``."""
    from jinja2 import TemplateError
    from jinja2.sandbox import SecurityError

    path = template_path(name, locale, project_dir)
    subject_t, body_t = _compiled(path, path.stat().st_mtime_ns)
    try:
        return subject_t.render(context), body_t.render(context)
    except SecurityError as exc:
        raise InputError(f"{path}: the template tried something unsafe ({exc})", code="template_unsafe") from None
    except TemplateError as exc:
        raise InputError(f"{path}: {exc}", code="template_invalid") from None


@dataclass(frozen=True)
class Mail:
    """One message ready for SMTP: envelope sender, recipient and the RFC 5322 bytes."""

    sender: str
    to: str
    data: bytes


def _header(value: str) -> str:
    return value if value.isascii() else Header(value, "utf-8").encode()


def build_message(*, key: str, sender: str, to: str, subject: str, body: str, unsubscribe_url: str) -> Mail:
    """The message as bytes, written directly (the stdlib's header registry costs ~3 ms a
    message, more than the send). The unsubscribe URL stays a URL (never RFC 2047-encoded);
    the body is UTF-8, quoted-printable."""
    lines = [
        f"From: {_header(sender)}", f"To: {to}", f"Subject: {_header(subject)}",
        f"Date: {formatdate(usegmt=True)}", f"Message-ID: <{key}@percorso>",
        f"List-Unsubscribe: <{unsubscribe_url}>", "List-Unsubscribe-Post: List-Unsubscribe=One-Click",
        "MIME-Version: 1.0", 'Content-Type: text/plain; charset="utf-8"', "Content-Transfer-Encoding: quoted-printable",
    ]
    payload = quopri.encodestring(body.replace("\r\n", "\n").replace("\n", "\r\n").encode("utf-8"))
    return Mail(parseaddr(sender)[1] or sender, to, "\r\n".join(lines).encode("ascii") + b"\r\n\r\n" + payload)


class SmtpSender:
    """One SMTP connection reused across a dispatch pass (reopened after an error)."""

    def __init__(self, host: str, port: int, *, starttls: bool = False, timeout: float = 10.0) -> None:
        self.host, self.port, self.starttls, self.timeout = host, port, starttls, timeout
        self._smtp: smtplib.SMTP | None = None

    def _connect(self) -> smtplib.SMTP:
        if self._smtp is None:
            smtp = smtplib.SMTP(self.host, self.port, timeout=self.timeout)
            if self.starttls:
                smtp.starttls()
            self._smtp = smtp
        return self._smtp

    def send(self, mail: Mail) -> tuple[str, str | None]:
        """``("sent", None)``, ``("retry", why)`` for transient trouble, ``("failed", why)`` when refused."""
        try:
            refused = self._connect().sendmail(mail.sender, [mail.to], mail.data)
        except smtplib.SMTPRecipientsRefused as exc:
            return "failed", f"recipient refused: {exc.recipients}"[:300]
        except smtplib.SMTPResponseException as exc:
            self.close()
            return ("failed" if 500 <= exc.smtp_code < 600 else "retry"), f"SMTP {exc.smtp_code}"
        except (OSError, smtplib.SMTPException) as exc:
            self.close()
            return "retry", f"{type(exc).__name__}: {exc}"[:300]
        if refused:
            return "failed", f"recipient refused: {refused}"[:300]
        return "sent", None

    def close(self) -> None:
        if self._smtp is not None:
            try:
                self._smtp.quit()
            except (OSError, smtplib.SMTPException):
                pass
            self._smtp = None


__all__ = ["SmtpSender", "build_message", "read_unsubscribe_token", "render", "template_path", "unsubscribe_token"]
