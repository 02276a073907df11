"""All tables; importing this module registers every model on the shared metadata."""

from relaydesk.models.ai import AiContactPreference, AiConversationState, AiDecision, AiSettings
from relaydesk.models.audit import AuditCheckpoint, AuditEvent
from relaydesk.models.contacts import Contact, ContactIdentity
from relaydesk.models.conversations import Conversation, ConversationLabel, Label
from relaydesk.models.events import Event
from relaydesk.models.inbound import InboundEvent
from relaydesk.models.inboxes import Inbox
from relaydesk.models.jobs import Job
from relaydesk.models.keys import ContactKey, KeyRotation, WorkspaceKey
from relaydesk.models.knowledge import KnowledgeArticle, KnowledgeChunk
from relaydesk.models.library import AttributeDefinition, CannedResponse
from relaydesk.models.messages import Attachment, Message
from relaydesk.models.privacy_requests import ContactExport, SubjectRequest
from relaydesk.models.search import SearchToken
from relaydesk.models.users import ApiToken, Invitation, RecoveryCode, User, UserSession
from relaydesk.models.webhooks import WebhookEndpoint
from relaydesk.models.workspaces import Membership, Team, TeamMember, Workspace

__all__ = [
    "AiContactPreference",
    "AiConversationState",
    "AiDecision",
    "AiSettings",
    "ApiToken",
    "Attachment",
    "AttributeDefinition",
    "AuditCheckpoint",
    "AuditEvent",
    "CannedResponse",
    "Contact",
    "ContactExport",
    "ContactIdentity",
    "ContactKey",
    "Conversation",
    "ConversationLabel",
    "Event",
    "InboundEvent",
    "Inbox",
    "Invitation",
    "Job",
    "KeyRotation",
    "KnowledgeArticle",
    "KnowledgeChunk",
    "Label",
    "Membership",
    "Message",
    "RecoveryCode",
    "SearchToken",
    "SubjectRequest",
    "Team",
    "TeamMember",
    "User",
    "UserSession",
    "WebhookEndpoint",
    "Workspace",
    "WorkspaceKey",
]
