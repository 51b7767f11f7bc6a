"""Signed-in pages: sign-in and sign-out, a participant's own submissions and keys (``/me``), and the
administrator's registry page (``/admin``).

Every change goes through the same core functions as the admin API and CLI (:mod:`exchange.admin`,
the repository and the queue), so a rule is enforced once. Every form is a POST carrying the session's
CSRF value; every answer to a change is a redirect (303) except where a secret is shown once.
"""

from __future__ import annotations

from dataclasses import dataclass
from typing import Any
from urllib.parse import quote

from aiohttp import web

from exchange import admin, times
from exchange.errors import ExchangeError, Problems
from exchange.gateway.appkeys import SERVICES
from exchange.gateway.reviews import held_item
from exchange.models import PARTICIPANT_TYPES, ROLES, AuditedSubmission, AuditQuery
from exchange.portal.render import render
from exchange.portal.session import (
    Session,
    csrf_matches,
    current,
    pre_session_csrf,
    remember_pre_session,
    sign_in,
    sign_out,
)

routes = web.RouteTableDef()

#: A form is a few fields; anything longer is refused before it is parsed.
MAX_FORM_BYTES = 64 * 1024
#: Rejections shown on /me, newest first.
REJECTIONS_SHOWN = 50
#: Submissions under review shown on /me and /review, oldest first.
REVIEWS_SHOWN = 200


@dataclass(frozen=True, slots=True)
class FormError:
    field: str
    message: str


async def _form(request: web.Request) -> dict[str, str]:
    if request.content_length is None or request.content_length > MAX_FORM_BYTES:
        raise ExchangeError(Problems.BODY_TOO_LARGE, f"a form is at most {MAX_FORM_BYTES} bytes")
    data = await request.post()
    return {name: value for name, value in data.items() if isinstance(value, str)}


def _local(target: str) -> str:
    """Where to go after signing in: a path of this site only (never another origin)."""
    if target.startswith("/") and not target.startswith("//") and "\\" not in target:
        return target
    return "/me"


def _to_signin(request: web.Request) -> web.HTTPSeeOther:
    return web.HTTPSeeOther(f"/signin?next={quote(request.path_qs, safe='/')}")


async def _session(request: web.Request, *roles: str) -> Session:
    """The signed-in person, who must hold one of ``roles`` (any role when none is named)."""
    session = await current(request)
    if session is None:
        raise _to_signin(request)
    if roles and session.token.role not in roles:
        raise ExchangeError(Problems.FORBIDDEN, f"a {session.token.role} token cannot open this page")
    return session


async def _checked_form(request: web.Request, *roles: str) -> tuple[Session, dict[str, str]]:
    session = await _session(request, *roles)
    form = await _form(request)
    if not csrf_matches(session.csrf, form.get("csrf")):
        raise ExchangeError(Problems.FORBIDDEN, "the form has expired or did not come from this site; reload the page")
    return session, form


@routes.get("/signin")
async def signin_page(request: web.Request) -> web.Response:
    csrf = pre_session_csrf(request)
    response = render(request, "signin.html", csrf=csrf, next=_local(request.query.get("next", "/me")), error=False)
    remember_pre_session(request, response, csrf)
    return response


@routes.post("/signin")
async def signin(request: web.Request) -> web.StreamResponse:
    form = await _form(request)
    if not csrf_matches(request.cookies.get("exchange_signin"), form.get("csrf")):
        raise ExchangeError(Problems.FORBIDDEN, "the form has expired or did not come from this site; reload the page")
    target = _local(form.get("next", "/me"))
    response = web.HTTPSeeOther(target)
    if await sign_in(request, response, form.get("token", "")) is None:
        csrf = pre_session_csrf(request)
        page = render(request, "signin.html", status=401, csrf=csrf, next=target, error=True)
        remember_pre_session(request, page, csrf)
        return page
    raise response


@routes.post("/signout")
async def signout(request: web.Request) -> web.StreamResponse:
    session = await current(request)
    form = await _form(request)
    if session is not None and not csrf_matches(session.csrf, form.get("csrf")):
        raise ExchangeError(Problems.FORBIDDEN, "the form has expired or did not come from this site; reload the page")
    response = web.HTTPSeeOther("/")
    sign_out(request, response)
    raise response


async def _rejections(request: web.Request, participant: str) -> list[AuditedSubmission]:
    """The participant's newest rejected submissions, read page by page in log order."""
    repository = request.app[SERVICES].repository
    found: list[AuditedSubmission] = []
    after = -1
    for _ in range(20):
        page = await repository.audit_submissions(
            AuditQuery(participant=participant, outcome="rejected", after=after, limit=500)
        )
        found = (found + page)[-REJECTIONS_SHOWN:]
        if len(page) < 500:
            break
        after = page[-1].state.log_index or after
    return list(reversed(found))


async def _held(request: web.Request, participant: str | None, status: str) -> list[dict[str, Any]]:
    """Submissions with a review ``status`` (oldest first), each with the record it would publish."""
    repository = request.app[SERVICES].repository
    found = await repository.audit_submissions(AuditQuery(participant=participant, outcome=status, limit=REVIEWS_SHOWN))
    return [await held_item(repository, s.state, s.body, s.serialization) for s in found]


@routes.get("/me")
async def me(request: web.Request) -> web.Response:
    session = await _session(request)
    participant = session.token.participant
    repository = request.app[SERVICES].repository
    context: dict[str, Any] = {"session": session, "participant": None, "keys": [], "rejections": [], "held": []}
    if participant is not None:
        context["participant"] = await repository.get_participant(participant)
        context["keys"] = await repository.list_keys(participant)
        context["rejections"] = await _rejections(request, participant)
        context["held"] = [
            *await _held(request, participant, "pending_review"),
            *await _held(request, participant, "returned"),
        ]
    return render(request, "me.html", **context)


@routes.get("/review")
async def review_queue(request: web.Request) -> web.Response:
    """The editors' queue: what waits for review, with the record and the command that decides it."""
    session = await _session(request, "editor", "admin")
    return render(
        request,
        "review.html",
        session=session,
        pending=await _held(request, None, "pending_review"),
        returned=await _held(request, None, "returned"),
        origin=request.app[SERVICES].settings.public_origin,
    )


async def _admin_page(request: web.Request, session: Session, status: int = 200, **extra: Any) -> web.Response:
    services = request.app[SERVICES]
    repository = services.repository
    return render(
        request,
        "admin.html",
        status=status,
        session=session,
        participants=await repository.list_participants(),
        keys=await repository.list_keys(),
        tokens=await repository.list_tokens(),
        dead_letters=await services.queue.list_dead_letters(),
        participant_types=PARTICIPANT_TYPES,
        roles=ROLES,
        now=times.iso(times.now()),
        done=request.query.get("done", ""),
        errors=extra.pop("errors", []),
        **extra,
    )


@routes.get("/admin")
async def admin_page(request: web.Request) -> web.Response:
    return await _admin_page(request, await _session(request, "admin"))


def _errors(exc: ExchangeError) -> list[FormError]:
    if exc.errors:
        return [FormError(e.get("pointer", "").strip("/"), e.get("message", exc.detail)) for e in exc.errors]
    return [FormError("", exc.detail)]


async def _change(request: web.Request, action: str) -> web.StreamResponse:
    session, form = await _checked_form(request, "admin")
    services = request.app[SERVICES]
    repository = services.repository
    try:
        if action == "participant":
            jurisdictions = [j.strip().upper() for j in form.get("jurisdictions", "").replace(",", " ").split()]
            await admin.add_participant(
                repository,
                services.validator,
                form.get("id", "").strip(),
                form.get("name", ""),
                form.get("type", ""),
                jurisdictions,
            )
        elif action == "key":
            await admin.add_key(repository, form.get("kid", "").strip(), form.get("public_key", "").encode())
        elif action == "revoke-key":
            await admin.revoke_key(repository, form.get("kid", ""), form.get("reason", ""))
        elif action == "token":
            participant = form.get("participant", "").strip() or None
            secret, info = await admin.create_token(
                repository, form.get("role", ""), participant, form.get("label", "").strip() or None
            )
            # the only answer that is not a redirect: the secret is shown once, never stored readable
            page = await _admin_page(request, session, created=(secret, info))
            page.headers["Cache-Control"] = "no-store"
            return page
        elif action == "revoke-token":
            if not await repository.revoke_token(form.get("token_id", ""), times.iso(times.now())):
                raise ExchangeError(Problems.NOT_FOUND, "no active token with that id")
        elif action == "retry" and not await services.queue.redrive(form.get("id", "")):
            raise ExchangeError(Problems.NOT_FOUND, "no dead letter with that id")
    except ExchangeError as exc:
        if exc.problem.status >= 500:
            raise
        return await _admin_page(request, session, status=exc.problem.status, errors=_errors(exc), form=form)
    raise web.HTTPSeeOther(f"/admin?done={action}")


@routes.post("/admin/participants")
async def add_participant(request: web.Request) -> web.StreamResponse:
    return await _change(request, "participant")


@routes.post("/admin/keys")
async def add_key(request: web.Request) -> web.StreamResponse:
    return await _change(request, "key")


@routes.post("/admin/keys/revoke")
async def revoke_key(request: web.Request) -> web.StreamResponse:
    return await _change(request, "revoke-key")


@routes.post("/admin/tokens")
async def add_token(request: web.Request) -> web.StreamResponse:
    return await _change(request, "token")


@routes.post("/admin/tokens/revoke")
async def revoke_token(request: web.Request) -> web.StreamResponse:
    return await _change(request, "revoke-token")


@routes.post("/admin/dead-letters/retry")
async def retry_dead_letter(request: web.Request) -> web.StreamResponse:
    return await _change(request, "retry")
