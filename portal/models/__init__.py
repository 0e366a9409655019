"""The database tables, one module per entity; importing this package registers them all."""

from portal.models.approval import ApprovalStep, GroupCursor, Task, Timer
from portal.models.audit_event import AuditChain, AuditEvent
from portal.models.email import EmailMessage, EmailState
from portal.models.form import Form, FormVersion
from portal.models.integration import ApiToken, DeliveryState, WebhookDelivery, WebhookEndpoint
from portal.models.outbox import OutboxMessage
from portal.models.record import AuditPdf, Export, ExportState
from portal.models.stored_file import StoredFile
from portal.models.submission import Attachment, Submission, SubmissionStatus
from portal.models.user import Group, SignIn, User
from portal.models.what_if import WhatIf, WhatIfState

__all__ = [
    "ApiToken",
    "ApprovalStep",
    "Attachment",
    "AuditPdf",
    "AuditChain",
    "AuditEvent",
    "DeliveryState",
    "EmailMessage",
    "EmailState",
    "Export",
    "ExportState",
    "Form",
    "FormVersion",
    "Group",
    "GroupCursor",
    "OutboxMessage",
    "SignIn",
    "StoredFile",
    "Submission",
    "SubmissionStatus",
    "Task",
    "Timer",
    "User",
    "WebhookDelivery",
    "WebhookEndpoint",
    "WhatIf",
    "WhatIfState",
]
