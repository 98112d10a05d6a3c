// Podium on Azure: Function App (Flex Consumption, Python 3.11, system-assigned identity),
// Storage (Durable task hub + artifacts), Service Bus (topics, per-agent subscriptions, queue,
// dead-lettering), Cosmos DB (containers partitioned by /projectId, TTL on processedEvents),
// Key Vault (RBAC), Application Insights, role assignments for the app's identity.
// Names the code uses live in podium/topology.py; tests/adapters/test_infra_names.py checks
// that every one of them appears here. Deploy: see docs/deploy.md.
targetScope = 'resourceGroup'

@description('dev | staging | prod: used in resource names and to pick SKUs.')
@allowed(['dev', 'staging', 'prod'])
param environmentName string

@description('Short prefix for resource names (letters and digits).')
@minLength(2)
@maxLength(10)
param namePrefix string = 'podium'

param location string = resourceGroup().location

@description('Agents that get a subscription on the agent-tasks topic (== podium.topology.AGENT_IDS).')
param agentIds array = [
  'vision-architect-agent'
  'enterprise-architect-agent'
  'planner-agent'
  'basic-planner-agent'
  'developer-agent'
  'gateway-agent'
  'integration-agent'
  'devops-agent'
  'qa-agent'
  'security-agent'
  'cleanup-agent'
]

@description('Tenants that get their own Key Vault (KEYVAULT_URL_<TENANT>); others use the shared vault with a <tenant>-- name prefix.')
param dedicatedVaultTenants array = []

@description('Service Bus deliveries before a message is dead-lettered (embedded broker default: 10).')
@minValue(1)
param maxDeliveryCount int = 10

@description('Cosmos DB serverless (dev/staging) or provisioned autoscale throughput (prod).')
param cosmosServerless bool = true

@description('Autoscale max RU/s per container when not serverless.')
param cosmosAutoscaleMaxThroughput int = 4000

@description('Allow key/SAS auth on Service Bus (only for the live contract tests in dev).')
param serviceBusLocalAuth bool = false

@description('Maximum Flex Consumption instances.')
param maximumInstanceCount int = 40

@description('Secret cache TTL in seconds (PODIUM_SECRET_CACHE_TTL_SEC).')
param secretCacheTtlSec int = 60

var suffix = uniqueString(resourceGroup().id, namePrefix, environmentName)
var baseName = '${namePrefix}-${environmentName}'

module monitoring 'modules/monitoring.bicep' = {
  name: 'monitoring'
  params: {
    baseName: baseName
    location: location
  }
}

module storage 'modules/storage.bicep' = {
  name: 'storage'
  params: {
    storageName: take(toLower('st${namePrefix}${environmentName}${suffix}'), 24)
    location: location
  }
}

module servicebus 'modules/servicebus.bicep' = {
  name: 'servicebus'
  params: {
    namespaceName: '${baseName}-sb-${suffix}'
    location: location
    agentIds: agentIds
    maxDeliveryCount: maxDeliveryCount
    localAuth: serviceBusLocalAuth
  }
}

module cosmos 'modules/cosmos.bicep' = {
  name: 'cosmos'
  params: {
    accountName: '${baseName}-cosmos-${suffix}'
    location: location
    serverless: cosmosServerless
    autoscaleMaxThroughput: cosmosAutoscaleMaxThroughput
  }
}

module keyvault 'modules/keyvault.bicep' = {
  name: 'keyvault'
  params: {
    vaultName: take('kv-${namePrefix}-${environmentName}-${suffix}', 24)
    location: location
    dedicatedVaultTenants: dedicatedVaultTenants
    suffix: suffix
  }
}

module functionapp 'modules/functionapp.bicep' = {
  name: 'functionapp'
  params: {
    appName: '${baseName}-func-${suffix}'
    location: location
    storageName: storage.outputs.storageName
    deploymentContainerUrl: storage.outputs.deploymentContainerUrl
    blobEndpoint: storage.outputs.blobEndpoint
    appInsightsConnectionString: monitoring.outputs.connectionString
    cosmosEndpoint: cosmos.outputs.endpoint
    cosmosDatabase: cosmos.outputs.databaseName
    serviceBusNamespaceHost: servicebus.outputs.namespaceHost
    keyVaultUrl: keyvault.outputs.vaultUrl
    keyVaultName: keyvault.outputs.vaultName
    tenantVaults: keyvault.outputs.tenantVaults
    maximumInstanceCount: maximumInstanceCount
    secretCacheTtlSec: secretCacheTtlSec
  }
}

module roles 'modules/roles.bicep' = {
  name: 'roles'
  params: {
    principalId: functionapp.outputs.principalId
    storageName: storage.outputs.storageName
    serviceBusNamespaceName: servicebus.outputs.namespaceName
    cosmosAccountName: cosmos.outputs.accountName
    keyVaultNames: concat([keyvault.outputs.vaultName], map(keyvault.outputs.tenantVaults, v => v.vaultName))
    appInsightsName: monitoring.outputs.appInsightsName
  }
}

output functionAppName string = functionapp.outputs.appName
output functionAppHost string = functionapp.outputs.defaultHostName
output serviceBusNamespace string = servicebus.outputs.namespaceHost
output cosmosEndpoint string = cosmos.outputs.endpoint
output keyVaultUrl string = keyvault.outputs.vaultUrl
