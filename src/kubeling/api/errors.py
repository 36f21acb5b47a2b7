"""API errors as metav1.Status, worded as Kubernetes words them.

kubectl prints `Error from server (<reason>): <message>`, so reasons and messages
follow k8s.io/apimachinery/pkg/api/errors.
"""

from __future__ import annotations

from typing import Any


class ApiError(Exception):
    """An error that the API server answers with a metav1.Status."""

    def __init__(self, code: int, reason: str, message: str, *, details: dict[str, Any] | None = None):
        super().__init__(message)
        self.code = code
        self.reason = reason
        self.message = message
        self.details = details

    def status(self) -> dict[str, Any]:
        status: dict[str, Any] = {
            "kind": "Status",
            "apiVersion": "v1",
            "metadata": {},
            "status": "Failure",
            "message": self.message,
            "code": self.code,
        }
        if self.reason:  # Kubernetes omits an empty reason; kubectl then prints no "(Reason)"
            status["reason"] = self.reason
        if self.details:
            status["details"] = self.details
        return status


def _qualified(resource: str, group: str) -> str:
    """`deployments.apps`, or `pods` for the core group (as Kubernetes prints GroupResource)."""
    return f"{resource}.{group}" if group else resource


def _details(name: str | None, group: str, kind: str, causes: list[dict] | None = None) -> dict[str, Any]:
    details: dict[str, Any] = {}
    if name:
        details["name"] = name
    if group:
        details["group"] = group
    if kind:
        details["kind"] = kind
    if causes:
        details["causes"] = causes
    return details


def not_found(resource: str, name: str, group: str = "") -> ApiError:
    return ApiError(404, "NotFound", f'{_qualified(resource, group)} "{name}" not found',
                    details=_details(name, group, resource))


def already_exists(resource: str, name: str, group: str = "") -> ApiError:
    return ApiError(409, "AlreadyExists", f'{_qualified(resource, group)} "{name}" already exists',
                    details=_details(name, group, resource))


def conflict(resource: str, name: str, group: str = "", why: str = "") -> ApiError:
    why = why or "the object has been modified; please apply your changes to the latest version and try again"
    return ApiError(409, "Conflict", f'Operation cannot be fulfilled on {_qualified(resource, group)} "{name}": {why}',
                    details=_details(name, group, resource))


def invalid(kind: str, name: str, causes: list[dict], group: str = "") -> ApiError:
    """422 Invalid. Each cause: {"reason": "FieldValueInvalid", "message": ..., "field": ...}.

    The message is Kubernetes' aggregate: `Deployment.apps "web" is invalid: field: msg`, or a
    bracketed list for several causes; kubectl rewrites it from details as `The Deployment "web" is invalid:`.
    """
    parts = [f"{c['field']}: {c['message']}" if c.get("field") else c["message"] for c in causes]
    body = parts[0] if len(parts) == 1 else "[" + ", ".join(parts) + "]"
    return ApiError(422, "Invalid", f'{_qualified(kind, group)} "{name}" is invalid: {body}',
                    details=_details(name, group, kind, causes))


def bad_request(message: str, causes: list[dict] | None = None) -> ApiError:
    return ApiError(400, "BadRequest", message, details={"causes": causes} if causes else None)


def gone(message: str) -> ApiError:
    return ApiError(410, "Expired", message)


def unauthorized() -> ApiError:
    return ApiError(401, "Unauthorized", "Unauthorized")


def forbidden(message: str) -> ApiError:
    return ApiError(403, "Forbidden", message)


def method_not_allowed(message: str = "the server does not allow this method on the requested resource") -> ApiError:
    return ApiError(405, "MethodNotAllowed", message)


def not_acceptable(message: str) -> ApiError:
    return ApiError(406, "NotAcceptable", message)


def request_entity_too_large(message: str = "Request entity too large: limit is 3145728") -> ApiError:
    return ApiError(413, "RequestEntityTooLarge", message)


def unsupported_media_type(content_type: str) -> ApiError:
    return ApiError(415, "UnsupportedMediaType", "the body of the request was in an unknown format - accepted media "
                    "types include: application/json, application/yaml, application/vnd.kubernetes.protobuf")


def internal(message: str) -> ApiError:
    return ApiError(500, "InternalError", f"Internal error occurred: {message}")


def too_many_requests(message: str) -> ApiError:
    return ApiError(429, "TooManyRequests", message)


def field_cause(field: str, message: str, reason: str = "FieldValueInvalid") -> dict[str, str]:
    return {"reason": reason, "message": message, "field": field}
