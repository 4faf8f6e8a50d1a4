// The amlguard Function App on the Flex Consumption plan (FC1): Python 3.11, package deployed
// to a blob container read with the user-assigned identity, identity-based AzureWebJobsStorage,
// Entra-authenticated Application Insights. App settings carry names and endpoints only.

@description('Azure region for the plan and the app.')
param location string

@description('Tags applied to the plan; the app adds the azd service tag.')
param tags object

@description('Flex Consumption plan name.')
param planName string

@description('Function App name (also its default host name).')
param appName string

@description('Resource id of the user-assigned identity the app runs as.')
param identityId string

@description('Client id of that identity (DefaultAzureCredential, AzureWebJobsStorage, App Insights).')
param identityClientId string

@description('Storage account name (host storage, queues, state table, deployment container).')
param storageAccountName string

@description('Blob container that holds the deployment package.')
param deploymentContainerName string

@description('Application Insights component name.')
param applicationInsightsName string

@description('Maximum instances Flex Consumption may scale out to.')
@minValue(40)
@maxValue(1000)
param maximumInstanceCount int = 40

@description('Instance memory size in MB.')
@allowed([
  2048
  4096
])
param instanceMemoryMB int = 2048

@description('Spread the plan across availability zones (needs a region with Flex Consumption zone redundancy; use ZRS/GZRS storage with it).')
param zoneRedundant bool = false

@description('amlguard settings (AMLGUARD_*), names and values only, never secrets.')
param amlguardSettings object

resource storage 'Microsoft.Storage/storageAccounts@2023-05-01' existing = {
  name: storageAccountName
}

resource applicationInsights 'Microsoft.Insights/components@2020-02-02' existing = {
  name: applicationInsightsName
}

resource plan 'Microsoft.Web/serverfarms@2024-04-01' = {
  name: planName
  location: location
  tags: tags
  kind: 'functionapp'
  sku: {
    name: 'FC1'
    tier: 'FlexConsumption'
  }
  properties: {
    // Flex Consumption is Linux only.
    reserved: true
    // checkov:skip=CKV_AZURE_225:Zone redundancy is opt-in through the zoneRedundant parameter because only some Flex Consumption regions offer it; a default of true would fail azd up elsewhere
    zoneRedundant: zoneRedundant
  }
}

// Settings the platform needs, as siteConfig.appSettings name/value pairs. Written out (not a
// loop over an object) because several values are only known at deployment time.
var platformAppSettings = [
  // Identity-based host storage: the Functions host builds its clients from these names with
  // the user-assigned identity; there is no AzureWebJobsStorage connection string at all.
  {
    name: 'AzureWebJobsStorage__accountName'
    value: storage.name
  }
  {
    name: 'AzureWebJobsStorage__credential'
    value: 'managedidentity'
  }
  {
    name: 'AzureWebJobsStorage__clientId'
    value: identityClientId
  }
  {
    name: 'AzureWebJobsStorage__blobServiceUri'
    value: storage.properties.primaryEndpoints.blob
  }
  {
    name: 'AzureWebJobsStorage__queueServiceUri'
    value: storage.properties.primaryEndpoints.queue
  }
  {
    name: 'AzureWebJobsStorage__tableServiceUri'
    value: storage.properties.primaryEndpoints.table
  }
  // Workspace-based App Insights with local auth disabled: the connection string only names
  // the destination; ingestion needs an Entra token for the identity named below.
  {
    name: 'APPLICATIONINSIGHTS_CONNECTION_STRING'
    value: applicationInsights.properties.ConnectionString
  }
  {
    name: 'APPLICATIONINSIGHTS_AUTHENTICATION_STRING'
    value: 'Authorization=AAD;ClientId=${identityClientId}'
  }
  // DefaultAzureCredential picks the user-assigned identity from this.
  {
    name: 'AZURE_CLIENT_ID'
    value: identityClientId
  }
]

// amlguard's own settings arrive as an object parameter (known when this module starts).
var amlguardAppSettings = [for setting in items(amlguardSettings): {
  name: setting.key
  value: setting.value
}]

// Flex Consumption takes runtime and deployment from functionAppConfig, so none of the
// deprecated settings (FUNCTIONS_WORKER_RUNTIME, WEBSITE_RUN_FROM_PACKAGE, ...) appear here.
var appSettings = concat(platformAppSettings, amlguardAppSettings)

resource functionApp 'Microsoft.Web/sites@2024-04-01' = {
  name: appName
  location: location
  // azd finds the deploy target of service "api" (azure.yaml) by this tag.
  tags: union(tags, {
    'azd-service-name': 'api'
  })
  kind: 'functionapp,linux'
  identity: {
    type: 'UserAssigned'
    userAssignedIdentities: {
      '${identityId}': {}
    }
  }
  properties: {
    serverFarmId: plan.id
    httpsOnly: true
    // checkov:skip=CKV_AZURE_222:Event Grid delivers to the on_resource_event function over its public endpoint (it cannot reach a private endpoint) and the HTTP API is called from outside; every route but /api/health needs a key
    publicNetworkAccess: 'Enabled'
    // No App Service Authentication (EasyAuth): Flex Consumption does not support it. Routes need a
    // function key (Entra ID in front is possible), the Event Grid trigger the eventgrid_extension key.
    // checkov:skip=CKV_AZURE_17:Client certificates are not used; callers authenticate with a function key or Entra ID, and Event Grid cannot present one
    clientCertEnabled: false
    // checkov:skip=CKV_AZURE_78:Flex Consumption has no FTP/FTPS deployment endpoint and lists siteConfig.ftpsState as a deprecated property; packages are deployed to the blob container below
    // checkov:skip=CKV_AZURE_212:Flex Consumption has no worker count (siteConfig.numberOfWorkers); the platform scales each function from zero up to maximumInstanceCount
    // checkov:skip=CKV_AZURE_213:App Service health check drains instances of a fixed-size plan; Flex Consumption manages its instances itself and does not document support. /api/health serves external probes
    siteConfig: {
      minTlsVersion: '1.2'
      http20Enabled: true
      appSettings: appSettings
    }
    functionAppConfig: {
      deployment: {
        storage: {
          type: 'blobContainer'
          value: '${storage.properties.primaryEndpoints.blob}${deploymentContainerName}'
          authentication: {
            type: 'UserAssignedIdentity'
            userAssignedIdentityResourceId: identityId
          }
        }
      }
      scaleAndConcurrency: {
        maximumInstanceCount: maximumInstanceCount
        instanceMemoryMB: instanceMemoryMB
      }
      runtime: {
        name: 'python'
        version: '3.11'
      }
    }
  }
}

output functionAppId string = functionApp.id
output functionAppName string = functionApp.name
output defaultHostName string = functionApp.properties.defaultHostName
output planId string = plan.id
