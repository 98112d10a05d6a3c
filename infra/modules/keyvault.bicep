// Key Vault with RBAC authorization: one shared vault (tenant secrets named <tenant>--<name>)
// and optionally a dedicated vault per listed tenant (KEYVAULT_URL_<TENANT>).
param vaultName string
param location string
param dedicatedVaultTenants array
param suffix string

resource vault 'Microsoft.KeyVault/vaults@2023-07-01' = {
  name: vaultName
  location: location
  properties: {
    tenantId: subscription().tenantId
    sku: { family: 'A', name: 'standard' }
    enableRbacAuthorization: true
    enableSoftDelete: true
    softDeleteRetentionInDays: 30
    enablePurgeProtection: true
  }
}

resource tenantVaultResources 'Microsoft.KeyVault/vaults@2023-07-01' = [for t in dedicatedVaultTenants: {
  name: take('kv-${uniqueString(suffix, t)}', 24)
  location: location
  properties: {
    tenantId: subscription().tenantId
    sku: { family: 'A', name: 'standard' }
    enableRbacAuthorization: true
    enableSoftDelete: true
    softDeleteRetentionInDays: 30
    enablePurgeProtection: true
  }
}]

output vaultName string = vault.name
output vaultUrl string = vault.properties.vaultUri
output tenantVaults array = [for (t, i) in dedicatedVaultTenants: {
  settingName: 'KEYVAULT_URL_${toUpper(replace(t, '-', '_'))}'
  vaultName: tenantVaultResources[i].name
  vaultUrl: tenantVaultResources[i].properties.vaultUri
}]
