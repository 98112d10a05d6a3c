using '../main.bicep'

// Prod: autoscale Cosmos throughput, identity-only access, room to scale out.
param environmentName = 'prod'
param cosmosServerless = false
param cosmosAutoscaleMaxThroughput = 4000
param serviceBusLocalAuth = false
param maximumInstanceCount = 100
param maxDeliveryCount = 10
param secretCacheTtlSec = 60
param dedicatedVaultTenants = []
