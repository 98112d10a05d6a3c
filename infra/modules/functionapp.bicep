// The Functions app: Flex Consumption (FC1), Linux, Python 3.11, system-assigned identity.
// Every connection is identity-based (no keys in settings); the one secret-bearing setting is a
// Key Vault reference resolved by the platform with the app's identity.
param appName string
param location string
param storageName string
param deploymentContainerUrl string
param blobEndpoint string
param appInsightsConnectionString string
param cosmosEndpoint string
param cosmosDatabase string
param serviceBusNamespaceHost string
param keyVaultUrl string
param keyVaultName string
param tenantVaults array
param maximumInstanceCount int
param secretCacheTtlSec int

resource plan 'Microsoft.Web/serverfarms@2024-04-01' = {
  name: '${appName}-plan'
  location: location
  kind: 'functionapp'
  sku: { tier: 'FlexConsumption', name: 'FC1' }
  properties: { reserved: true }
}

var baseSettings = [
  // Durable Functions task hub + triggers' storage, identity-based.
  { name: 'AzureWebJobsStorage__accountName', value: storageName }
  { name: 'AzureWebJobsStorage__credential', value: 'managedidentity' }
  { name: 'APPLICATIONINSIGHTS_CONNECTION_STRING', value: appInsightsConnectionString }
  { name: 'APPLICATIONINSIGHTS_AUTHENTICATION_STRING', value: 'Authorization=AAD' }
  // podium/settings.py
  { name: 'PODIUM_ENV', value: 'azure' }
  { name: 'PODIUM_STORE', value: 'cosmos' }
  { name: 'PODIUM_ARTIFACTS', value: 'blob' }
  { name: 'PODIUM_SECRETS', value: 'keyvault' }
  { name: 'PODIUM_PUBLISHER', value: 'servicebus' }
  { name: 'COSMOS_ENDPOINT', value: cosmosEndpoint }
  { name: 'COSMOS_DATABASE', value: cosmosDatabase }
  // Service Bus trigger bindings use connection="SERVICEBUS_CONNECTION"; identity-based form.
  { name: 'SERVICEBUS_CONNECTION__fullyQualifiedNamespace', value: serviceBusNamespaceHost }
  { name: 'KEYVAULT_URL', value: keyVaultUrl }
  { name: 'PODIUM_SECRET_CACHE_TTL_SEC', value: string(secretCacheTtlSec) }
  { name: 'ARTIFACTS_STORAGE_ACCOUNT_URL', value: blobEndpoint }
  // Key Vault reference: the platform resolves it with the app identity (Key Vault Secrets User).
  { name: 'PODIUM_LLM_API_KEY', value: '@Microsoft.KeyVault(VaultName=${keyVaultName};SecretName=llm-api-key)' }
]
var tenantVaultSettings = [for v in tenantVaults: { name: v.settingName, value: v.vaultUrl }]

resource site 'Microsoft.Web/sites@2024-04-01' = {
  name: appName
  location: location
  kind: 'functionapp,linux'
  identity: { type: 'SystemAssigned' }
  properties: {
    serverFarmId: plan.id
    httpsOnly: true
    keyVaultReferenceIdentity: 'SystemAssigned'
    siteConfig: {
      minTlsVersion: '1.2'
      ftpsState: 'Disabled'
      appSettings: concat(baseSettings, tenantVaultSettings)
    }
    functionAppConfig: {
      deployment: {
        storage: {
          type: 'blobContainer'
          value: deploymentContainerUrl
          authentication: { type: 'SystemAssignedIdentity' }
        }
      }
      scaleAndConcurrency: {
        maximumInstanceCount: maximumInstanceCount
        instanceMemoryMB: 2048
      }
      runtime: { name: 'python', version: '3.11' }
    }
  }
}

output principalId string = site.identity.principalId
output appName string = site.name
output defaultHostName string = site.properties.defaultHostName
