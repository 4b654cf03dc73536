"""API tokens: issued, listed and revoked by the operator, over HTTP or from the shell
(`fleet token ...`, which is how the first operator token comes to exist)."""

import sys
from datetime import datetime
from typing import Annotated, Literal

from fastapi import APIRouter, HTTPException, status
from pydantic import BaseModel, StringConstraints, model_validator

from fleet_server.adapters import api_tokens
from fleet_server.entrypoints.api.deps import (
    FleetDep,
    OperatorDep,
    PartnerId,
    StrictModel,
    not_found,
)

router = APIRouter(prefix="/tokens", tags=["tokens"])

TokenName = Annotated[str, StringConstraints(strip_whitespace=True, min_length=1,
                                             max_length=80, pattern=r"^[^\x00-\x1f\x7f]+$")]


class TokenIn(StrictModel):
    name: TokenName
    role: Literal["operator", "support", "partner_admin", "partner_user"]  # domain.roles.ROLES
    partner_id: PartnerId | None = None

    @model_validator(mode="after")
    def _partner_matches_role(self):
        if (self.role in api_tokens.PARTNER_ROLES) != (self.partner_id is not None):
            raise ValueError("partner_admin and partner_user tokens name a partner; "
                             "operator and support tokens do not")
        return self


class IssuedToken(BaseModel):
    token: str  # shown this once: only its hash is stored
    name: str
    role: str
    partner_id: str | None


class TokenOut(BaseModel):
    name: str
    role: str
    partner_id: str | None
    created_at: datetime
    revoked_at: datetime | None
    last_used_at: datetime | None


@router.post("", response_model=IssuedToken, status_code=status.HTTP_201_CREATED)
def issue(fleet: FleetDep, _: OperatorDep, body: TokenIn):
    if body.partner_id is not None:
        with fleet.uow() as uow:
            if uow.partners.get(body.partner_id) is None:
                raise not_found("partner")
    try:
        token = api_tokens.issue_token(fleet.session_factory, body.role, body.partner_id,
                                       body.name)
    except api_tokens.TokenError as err:  # the name is taken
        raise HTTPException(status.HTTP_409_CONFLICT, str(err)) from err
    return IssuedToken(token=token, name=body.name, role=body.role, partner_id=body.partner_id)


@router.get("", response_model=list[TokenOut])
def list_tokens(fleet: FleetDep, _: OperatorDep):
    return [t.__dict__ for t in api_tokens.list_tokens(fleet.session_factory)]


@router.delete("/{name}", status_code=status.HTTP_204_NO_CONTENT)
def revoke(fleet: FleetDep, _: OperatorDep, name: TokenName) -> None:
    if not api_tokens.revoke_token(fleet.session_factory, name):
        raise not_found("live token")


# The shell: wired into fleet_server/entrypoints/cli.py with add_token_parser(sub, common).

def add_token_parser(sub, common) -> None:
    """`fleet token issue --role R [--partner P] --name N`, `fleet token revoke NAME`,
    `fleet token list`; `common` adds --db and --ledger-url to each."""
    p = sub.add_parser("token", help="issue, list and revoke REST API tokens")
    actions = p.add_subparsers(dest="action", required=True)
    issue_p = common(actions.add_parser("issue", help="print a new token (shown once)"))
    issue_p.add_argument("--role", required=True, choices=api_tokens.ROLES)
    issue_p.add_argument("--partner", help="the partner id (partner_admin, partner_user)")
    issue_p.add_argument("--name", required=True, help="who or what holds it (unique)")
    revoke_p = common(actions.add_parser("revoke", help="revoke a token by name"))
    revoke_p.add_argument("name")
    common(actions.add_parser("list", help="tokens, without their secret"))
    p.set_defaults(func=cmd_token)


def cmd_token(args) -> int:
    from fleet_server.entrypoints.cli import _fleet

    fleet = _fleet(args)
    try:
        sf = fleet.session_factory
        if args.action == "issue":
            # The token alone on stdout, so `TOKEN=$(fleet token issue ...)` works.
            print(api_tokens.issue_token(sf, args.role, args.partner, args.name))
            print(f"token {args.name!r} ({args.role}) issued; it is not shown again",
                  file=sys.stderr)
        elif args.action == "revoke":
            if not api_tokens.revoke_token(sf, args.name):
                print(f"fleet: no live token named {args.name!r}", file=sys.stderr)
                return 1
            print(f"token {args.name!r} revoked")
        else:
            for t in api_tokens.list_tokens(sf):
                state = f"revoked {t.revoked_at:%Y-%m-%d}" if t.revoked_at else "live"
                print(f"{t.name:<24} {t.role:<14} {t.partner_id or '-':<12} {state}")
        return 0
    finally:
        fleet.close()
