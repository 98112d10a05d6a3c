// Cosmos DB (NoSQL): database 'podium' with one container per record kind, all partitioned by
// /projectId. processedEvents has TTL on (-1: each item's own "ttl" decides). Key auth is off:
// the app uses its identity with the built-in Data Contributor role (roles.bicep).
param accountName string
param location string
param serverless bool
param autoscaleMaxThroughput int

var databaseName = 'podium' // COSMOS_DATABASE
var partitionKeyPath = '/projectId' // COSMOS_PARTITION_KEY
var containers = [
  { name: 'executionGraphs', ttl: null } // CONTAINER_EXECUTION_GRAPHS
  { name: 'audit', ttl: null } // CONTAINER_AUDIT (append-only)
  { name: 'deliveries', ttl: null } // CONTAINER_DELIVERIES
  { name: 'humanTasks', ttl: null } // CONTAINER_HUMAN_TASKS
  { name: 'processedEvents', ttl: -1 } // CONTAINER_PROCESSED_EVENTS
  { name: 'projects', ttl: null } // CONTAINER_PROJECTS
]

resource account 'Microsoft.DocumentDB/databaseAccounts@2024-05-15' = {
  name: accountName
  location: location
  kind: 'GlobalDocumentDB'
  properties: {
    databaseAccountOfferType: 'Standard'
    consistencyPolicy: { defaultConsistencyLevel: 'Session' }
    locations: [ { locationName: location, failoverPriority: 0 } ]
    capabilities: serverless ? [ { name: 'EnableServerless' } ] : []
    disableLocalAuth: true
    minimalTlsVersion: 'Tls12'
  }
}

resource database 'Microsoft.DocumentDB/databaseAccounts/sqlDatabases@2024-05-15' = {
  parent: account
  name: databaseName
  properties: {
    resource: { id: databaseName }
  }
}

resource containerResources 'Microsoft.DocumentDB/databaseAccounts/sqlDatabases/containers@2024-05-15' = [for c in containers: {
  parent: database
  name: c.name
  properties: {
    resource: union({
      id: c.name
      partitionKey: { paths: [ partitionKeyPath ], kind: 'Hash' }
    }, c.ttl == null ? {} : { defaultTtl: c.ttl })
    options: serverless ? {} : { autoscaleSettings: { maxThroughput: autoscaleMaxThroughput } }
  }
}]

output endpoint string = account.properties.documentEndpoint
output databaseName string = databaseName
output accountName string = account.name
