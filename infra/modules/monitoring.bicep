// Log Analytics workspace + workspace-based Application Insights (the app's logs, traces, metrics).
param baseName string
param location string

resource workspace 'Microsoft.OperationalInsights/workspaces@2023-09-01' = {
  name: '${baseName}-logs'
  location: location
  properties: {
    sku: { name: 'PerGB2018' }
    retentionInDays: 30
  }
}

resource appInsights 'Microsoft.Insights/components@2020-02-02' = {
  name: '${baseName}-ai'
  location: location
  kind: 'web'
  properties: {
    Application_Type: 'web'
    WorkspaceResourceId: workspace.id
    DisableLocalAuth: true // ingestion with the app's identity (Monitoring Metrics Publisher)
  }
}

output connectionString string = appInsights.properties.ConnectionString
output appInsightsName string = appInsights.name
