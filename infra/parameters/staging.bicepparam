using '../main.bicep'

// Staging: production shape (identity only), serverless Cosmos to keep cost low.
param environmentName = 'staging'
param cosmosServerless = true
param serviceBusLocalAuth = false
param maximumInstanceCount = 40
param maxDeliveryCount = 10
param secretCacheTtlSec = 60
