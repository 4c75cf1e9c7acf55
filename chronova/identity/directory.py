"""Projects, users, roles and their assignments: the identity directory."""

from __future__ import annotations

from typing import Any

import falcon

from chronova import web
from chronova.identity import accounts
from chronova.identity.accounts import Reference
from chronova.identity.common import DOMAIN, V3, IdentityResource, caller, listing, require_admin
from chronova.identity.schemas import ProjectRequest, UserRequest, load
from domain.errors import Forbidden, NotFound
from domain.identity import DEFAULT_DOMAIN, ROLES, role_id, role_name


def _project(req: falcon.Request, row: dict[str, Any]) -> dict[str, Any]:
    return {
        "id": row["id"],
        "name": row["name"],
        "domain_id": row["domain_id"],
        "description": row["description"],
        "enabled": bool(row["enabled"]),
        "is_domain": False,
        "parent_id": row["domain_id"],
        "tags": [],
        "options": {},
        "links": {"self": f"{req.prefix}{V3}/projects/{row['id']}"},
    }


def _user(req: falcon.Request, row: dict[str, Any]) -> dict[str, Any]:
    user = {
        "id": row["id"],
        "name": row["name"],
        "domain_id": row["domain_id"],
        "enabled": bool(row["enabled"]),
        "password_expires_at": None,
        "options": {},
        "links": {"self": f"{req.prefix}{V3}/users/{row['id']}"},
    }
    if row.get("email"):
        user["email"] = row["email"]
    if row.get("default_project_id"):
        user["default_project_id"] = row["default_project_id"]
    return user


class AuthProjects(IdentityResource):
    def on_get(self, req: falcon.Request, resp: falcon.Response) -> None:
        claims = caller(req)
        rows = self.query(
            """SELECT DISTINCT p.* FROM identity_projects p JOIN identity_assignments a ON a.project_id = p.id
               WHERE a.user_id = %(user)s ORDER BY p.name""",
            {"user": claims.user_id},
        )
        resp.media = listing(req, "projects", [_project(req, row) for row in rows])


class Projects(IdentityResource):
    def on_get(self, req: falcon.Request, resp: falcon.Response) -> None:
        claims = caller(req)
        rows = self.query("SELECT * FROM identity_projects ORDER BY name")
        if not claims.is_admin:
            rows = [row for row in rows if row["id"] == claims.project_id]
        name = req.get_param("name")
        rows = [row for row in rows if name is None or row["name"] == name]
        resp.media = listing(req, "projects", [_project(req, row) for row in rows])

    def on_post(self, req: falcon.Request, resp: falcon.Response) -> None:
        body = load(ProjectRequest(), web.read_json_body(req))["project"]
        require_admin(req, "identity:create_project")
        project = accounts.create_project(
            self.cloud,
            name=body["name"],
            description=body["description"] or "",
            request_id=req.context.request_id,
            enabled=body["enabled"],
        )
        row = {
            "id": project.project_id,
            "name": project.name,
            "domain_id": DEFAULT_DOMAIN,
            "description": project.description,
            "enabled": project.enabled,
        }
        resp.status = falcon.HTTP_201
        resp.media = {"project": _project(req, row)}


class ProjectItem(IdentityResource):
    def on_get(self, req: falcon.Request, resp: falcon.Response, project_id: str) -> None:
        claims = caller(req)
        if not (claims.is_admin or claims.project_id == project_id):
            raise Forbidden("You are not authorized to perform the requested action: identity:get_project.")
        rows = self.query("SELECT * FROM identity_projects WHERE id = %(id)s", {"id": project_id})
        if not rows:
            raise NotFound(f"Could not find project: {project_id}.")
        resp.media = {"project": _project(req, rows[0])}


class Users(IdentityResource):
    def on_get(self, req: falcon.Request, resp: falcon.Response) -> None:
        require_admin(req, "identity:list_users")
        rows = self.query("SELECT * FROM identity_users ORDER BY name")
        name = req.get_param("name")
        resp.media = listing(req, "users", [_user(req, row) for row in rows if name is None or row["name"] == name])

    def on_post(self, req: falcon.Request, resp: falcon.Response) -> None:
        body = load(UserRequest(), web.read_json_body(req))["user"]
        require_admin(req, "identity:create_user")
        user = accounts.create_user(
            self.cloud,
            name=body["name"],
            password=body["password"],
            request_id=req.context.request_id,
            email=body["email"],
            default_project_id=body["default_project_id"],
            enabled=body["enabled"],
        )
        row = {
            "id": user.user_id,
            "name": user.name,
            "domain_id": DEFAULT_DOMAIN,
            "enabled": user.enabled,
            "email": user.email,
            "default_project_id": user.default_project_id,
        }
        resp.status = falcon.HTTP_201
        resp.media = {"user": _user(req, row)}


class UserItem(IdentityResource):
    def on_get(self, req: falcon.Request, resp: falcon.Response, user_id: str) -> None:
        claims = caller(req)
        if not (claims.is_admin or claims.user_id == user_id):
            raise Forbidden("You are not authorized to perform the requested action: identity:get_user.")
        rows = self.query("SELECT * FROM identity_users WHERE id = %(id)s", {"id": user_id})
        if not rows:
            raise NotFound(f"Could not find user: {user_id}.")
        resp.media = {"user": _user(req, rows[0])}


def _role(req: falcon.Request, name: str) -> dict[str, Any]:
    return {
        "id": role_id(name),
        "name": name,
        "domain_id": None,
        "description": None,
        "options": {},
        "links": {"self": f"{req.prefix}{V3}/roles/{role_id(name)}"},
    }


class Roles:
    def on_get(self, req: falcon.Request, resp: falcon.Response) -> None:
        caller(req)
        name = req.get_param("name")
        resp.media = listing(req, "roles", [_role(req, r) for r in ROLES if name is None or r == name])


class RoleItem:
    def on_get(self, req: falcon.Request, resp: falcon.Response, role: str) -> None:
        caller(req)
        resp.media = {"role": _role(req, role_name(role))}


class Grant(IdentityResource):
    def on_put(self, req: falcon.Request, resp: falcon.Response, project_id: str, user_id: str, role: str) -> None:
        require_admin(req, "identity:create_grant")
        accounts.grant_role(self.cloud, project_id, user_id, role_name(role), req.context.request_id)
        resp.status = falcon.HTTP_204

    def on_delete(self, req: falcon.Request, resp: falcon.Response, project_id: str, user_id: str, role: str) -> None:
        require_admin(req, "identity:revoke_grant")
        accounts.revoke_role(self.cloud, project_id, user_id, role_name(role), req.context.request_id)
        resp.status = falcon.HTTP_204

    def on_head(self, req: falcon.Request, resp: falcon.Response, project_id: str, user_id: str, role: str) -> None:
        require_admin(req, "identity:check_grant")
        project = accounts.find_project(self.cloud, Reference(id=project_id))
        if role_name(role) not in project.roles_of(user_id):
            raise NotFound(f"Could not find role assignment with role: {role}, user: {user_id}.")
        resp.status = falcon.HTTP_204


class RoleAssignments(IdentityResource):
    def on_get(self, req: falcon.Request, resp: falcon.Response) -> None:
        claims = caller(req)
        user = req.get_param("user.id")
        if not claims.is_admin and user != claims.user_id:
            raise Forbidden("You are not authorized to perform the requested action: identity:list_role_assignments.")
        project = req.get_param("scope.project.id")
        rows = self.query("SELECT * FROM identity_assignments ORDER BY project_id, user_id, role")
        items = [
            {
                "role": {"id": role_id(row["role"]), "name": row["role"]},
                "user": {"id": row["user_id"]},
                "scope": {"project": {"id": row["project_id"]}},
                "links": {"assignment": req.url},
            }
            for row in rows
            if (user is None or row["user_id"] == user) and (project is None or row["project_id"] == project)
        ]
        resp.media = listing(req, "role_assignments", items)


class Domains:
    def on_get(self, req: falcon.Request, resp: falcon.Response) -> None:
        caller(req)
        resp.media = listing(req, "domains", [_domain(req)])


class DomainItem:
    def on_get(self, req: falcon.Request, resp: falcon.Response, domain_id: str) -> None:
        caller(req)
        if domain_id not in ("default", "Default"):
            raise NotFound(f"Could not find domain: {domain_id}.")
        resp.media = {"domain": _domain(req)}


def _domain(req: falcon.Request) -> dict[str, Any]:
    return {
        **DOMAIN,
        "description": "The default domain",
        "enabled": True,
        "tags": [],
        "options": {},
        "links": {"self": f"{req.prefix}{V3}/domains/default"},
    }
