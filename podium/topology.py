"""Names of every Azure resource and setting the code uses, in one place.

The Bicep in ``infra/`` must declare each of these; ``tests/adapters/test_infra_names.py``
parses the Bicep and fails when a name drifts. Change a name here and in ``infra/`` together.
"""

# Service Bus
ORCHESTRATION_EVENTS_TOPIC = "orchestration-events"
ROUTER_SUBSCRIPTION = "router"  # on ORCHESTRATION_EVENTS_TOPIC: every domain event
AGENT_TASKS_TOPIC = "agent-tasks"  # AgentTaskScheduled; one subscription per agent (filter agentId)
AGENT_RESULTS_QUEUE = "agent-results"  # AgentTaskAcknowledged / Completed / Failed
SERVICEBUS_CONNECTION_SETTING = "SERVICEBUS_CONNECTION"  # binding `connection` name

# Application properties stamped on every Service Bus message
PROP_TENANT_ID = "tenantId"
PROP_PROJECT_ID = "projectId"
PROP_AGENT_ID = "agentId"
PROP_EVENT_TYPE = "eventType"
PROP_TRACEPARENT = "traceparent"

# Agents that get a subscription on AGENT_TASKS_TOPIC (subscription name == agentId)
AGENT_IDS = (
    "vision-architect-agent",
    "enterprise-architect-agent",
    "planner-agent",
    "basic-planner-agent",
    "developer-agent",
    "gateway-agent",
    "integration-agent",
    "devops-agent",
    "qa-agent",
    "security-agent",
    "cleanup-agent",
)

# Cosmos DB
COSMOS_DATABASE = "podium"
CONTAINER_EXECUTION_GRAPHS = "executionGraphs"  # graphs + orchestration snapshots, pk /projectId
CONTAINER_AUDIT = "audit"  # append-only audit trail, pk /projectId
CONTAINER_DELIVERIES = "deliveries"  # delivery summaries, pk /projectId
CONTAINER_HUMAN_TASKS = "humanTasks"  # pending / answered human tasks, pk /projectId
CONTAINER_PROCESSED_EVENTS = "processedEvents"  # idempotency keys with TTL, pk /projectId
CONTAINER_PROJECTS = "projects"  # project records (tenantId, name, request), pk /projectId
COSMOS_PARTITION_KEY = "/projectId"  # every container above

# Blob storage
ARTIFACTS_CONTAINER = "artifacts"
