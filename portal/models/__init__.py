"""The database tables, one module per entity; importing this package registers them all."""

from portal.models.audit_event import AuditChain, AuditEvent
from portal.models.form import Form, FormVersion
from portal.models.stored_file import StoredFile
from portal.models.submission import Attachment, Submission, SubmissionStatus
from portal.models.user import Group, User

__all__ = [
    "Attachment",
    "AuditChain",
    "AuditEvent",
    "Form",
    "FormVersion",
    "Group",
    "StoredFile",
    "Submission",
    "SubmissionStatus",
    "User",
]
