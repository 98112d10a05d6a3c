using '../main.bicep'

// Dev: serverless Cosmos, small scale; SAS/key auth on Service Bus allowed so the live publisher
// contract tests (tests/adapters/test_publisher_contract.py -m servicebus_live) can connect.
param environmentName = 'dev'
param cosmosServerless = true
param serviceBusLocalAuth = true
param maximumInstanceCount = 10
param maxDeliveryCount = 10
param secretCacheTtlSec = 60
