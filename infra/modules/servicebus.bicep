// Service Bus: the topology of podium/topology.py (also built by the local embedded broker from
// the same names). Sessions are off everywhere; duplicate detection (MessageId = eventId) is on
// for the topics and the queue; dead-lettering after maxDeliveryCount and on expiry.
param namespaceName string
param location string
param agentIds array
param maxDeliveryCount int
param localAuth bool

var orchestrationEventsTopic = 'orchestration-events' // ORCHESTRATION_EVENTS_TOPIC
var routerSubscription = 'router' // ROUTER_SUBSCRIPTION
var agentTasksTopic = 'agent-tasks' // AGENT_TASKS_TOPIC
var agentResultsQueue = 'agent-results' // AGENT_RESULTS_QUEUE
var agentIdProperty = 'agentId' // PROP_AGENT_ID: the application property the filters read
var lockDuration = 'PT1M'
var duplicateWindow = 'PT10M'

resource namespace 'Microsoft.ServiceBus/namespaces@2022-10-01-preview' = {
  name: namespaceName
  location: location
  sku: { name: 'Standard', tier: 'Standard' } // topics need Standard or Premium
  properties: {
    disableLocalAuth: !localAuth
    minimumTlsVersion: '1.2'
  }
}

resource eventsTopic 'Microsoft.ServiceBus/namespaces/topics@2022-10-01-preview' = {
  parent: namespace
  name: orchestrationEventsTopic
  properties: {
    requiresDuplicateDetection: true
    duplicateDetectionHistoryTimeWindow: duplicateWindow
    supportOrdering: true
  }
}

resource router 'Microsoft.ServiceBus/namespaces/topics/subscriptions@2022-10-01-preview' = {
  parent: eventsTopic
  name: routerSubscription
  properties: {
    requiresSession: false
    lockDuration: lockDuration
    maxDeliveryCount: maxDeliveryCount
    deadLetteringOnMessageExpiration: true
    deadLetteringOnFilterEvaluationExceptions: true
  }
}

resource tasksTopic 'Microsoft.ServiceBus/namespaces/topics@2022-10-01-preview' = {
  parent: namespace
  name: agentTasksTopic
  properties: {
    requiresDuplicateDetection: true
    duplicateDetectionHistoryTimeWindow: duplicateWindow
  }
}

resource agentSubscriptions 'Microsoft.ServiceBus/namespaces/topics/subscriptions@2022-10-01-preview' = [for agent in agentIds: {
  parent: tasksTopic
  name: agent
  properties: {
    requiresSession: false
    lockDuration: lockDuration
    maxDeliveryCount: maxDeliveryCount
    deadLetteringOnMessageExpiration: true
    deadLetteringOnFilterEvaluationExceptions: true
  }
}]

// Replaces the subscription's match-all $Default rule with the agent's SQL filter.
resource agentFilters 'Microsoft.ServiceBus/namespaces/topics/subscriptions/rules@2022-10-01-preview' = [for (agent, i) in agentIds: {
  parent: agentSubscriptions[i]
  name: '$Default'
  properties: {
    filterType: 'SqlFilter'
    sqlFilter: {
      sqlExpression: '${agentIdProperty} = \'${agent}\''
    }
  }
}]

resource resultsQueue 'Microsoft.ServiceBus/namespaces/queues@2022-10-01-preview' = {
  parent: namespace
  name: agentResultsQueue
  properties: {
    requiresSession: false
    lockDuration: lockDuration
    maxDeliveryCount: maxDeliveryCount
    deadLetteringOnMessageExpiration: true
    requiresDuplicateDetection: true
    duplicateDetectionHistoryTimeWindow: duplicateWindow
  }
}

output namespaceName string = namespace.name
output namespaceHost string = '${namespace.name}.servicebus.windows.net'
