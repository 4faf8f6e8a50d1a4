// Storage for the Function host and amlguard state: Entra-only (shared keys disabled), HTTPS
// with TLS 1.2+, no anonymous blob access. Holds the Flex Consumption deployment container,
// the Event Grid dead-letter container, the sweep fan-out queue and its poison queue, and the
// alert state table.

@description('Azure region for the storage account.')
param location string

@description('Tags applied to every resource.')
param tags object

@description('Storage account name (3-24 lower-case letters and digits).')
@minLength(3)
@maxLength(24)
param storageAccountName string

@description('Blob container that Flex Consumption deploys the app package to.')
param deploymentContainerName string

@description('Blob container Event Grid dead-letters undeliverable events to.')
param deadLetterContainerName string

@description('Fan-out queue the sweep timer fills and audit_workspace drains.')
param queueName string

@description('Queue of delayed alert wake-ups that alerts_wake drains.')
param wakeQueueName string

@description('Table that holds alert state, notification log and seen event ids.')
param stateTableName string

@description('Log Analytics workspace that receives the storage data-plane logs.')
param logAnalyticsId string

@description('Storage redundancy (geo-redundant by default: alert state and dead-letters survive a regional outage).')
@allowed([
  'Standard_LRS'
  'Standard_ZRS'
  'Standard_GRS'
  'Standard_GZRS'
])
param skuName string = 'Standard_GRS'

resource storage 'Microsoft.Storage/storageAccounts@2023-05-01' = {
  // checkov:skip=CKV_AZURE_43:The name is a parameter (main.bicep passes stamlg + uniqueString: 19 lower-case letters and digits, pinned by tests/infra); Checkov checks the parameter's identifier, not its value
  name: storageAccountName
  location: location
  tags: tags
  kind: 'StorageV2'
  sku: {
    name: skuName
  }
  properties: {
    supportsHttpsTrafficOnly: true
    minimumTlsVersion: 'TLS1_2'
    allowBlobPublicAccess: false
    // No account keys, no SAS signed with them: every caller authenticates with Entra ID.
    allowSharedKeyAccess: false
    defaultToOAuthAuthentication: true
    allowCrossTenantReplication: false
    // Flex Consumption without VNet integration reaches its host storage over the public
    // endpoint; access is still Entra-only. See docs/readme/deployment.md (network isolation).
    // checkov:skip=CKV_AZURE_59:Flex Consumption without VNet integration reaches host storage over the public endpoint; shared keys are disabled so every request needs an Entra token with a data role
    publicNetworkAccess: 'Enabled'
    // checkov:skip=CKV_AZURE_35:Default action Deny would block the Flex Consumption app, which has no VNet integration in this template; access is Entra-only (allowSharedKeyAccess false)
    networkAcls: {
      defaultAction: 'Allow'
      bypass: 'AzureServices'
    }
    encryption: {
      keySource: 'Microsoft.Storage'
      requireInfrastructureEncryption: true
      services: {
        blob: {
          enabled: true
          keyType: 'Account'
        }
        file: {
          enabled: true
          keyType: 'Account'
        }
        queue: {
          enabled: true
          keyType: 'Account'
        }
        table: {
          enabled: true
          keyType: 'Account'
        }
      }
    }
  }
}

resource blobService 'Microsoft.Storage/storageAccounts/blobServices@2023-05-01' = {
  parent: storage
  name: 'default'
  properties: {
    deleteRetentionPolicy: {
      enabled: true
      days: 7
    }
    containerDeleteRetentionPolicy: {
      enabled: true
      days: 7
    }
  }
}

resource deploymentContainer 'Microsoft.Storage/storageAccounts/blobServices/containers@2023-05-01' = {
  parent: blobService
  name: deploymentContainerName
  properties: {
    publicAccess: 'None'
  }
}

resource deadLetterContainer 'Microsoft.Storage/storageAccounts/blobServices/containers@2023-05-01' = {
  parent: blobService
  name: deadLetterContainerName
  properties: {
    publicAccess: 'None'
  }
}

resource queueService 'Microsoft.Storage/storageAccounts/queueServices@2023-05-01' = {
  parent: storage
  name: 'default'
}

resource sweepQueue 'Microsoft.Storage/storageAccounts/queueServices/queues@2023-05-01' = {
  parent: queueService
  name: queueName
}

// The Functions queue trigger moves a message here after maxDequeueCount failures; creating it
// up front lets operators alert on it before the first failure.
resource sweepPoisonQueue 'Microsoft.Storage/storageAccounts/queueServices/queues@2023-05-01' = {
  parent: queueService
  name: '${queueName}-poison'
}

// Delayed alert wake-ups (functions/wake.py): a message invisible until a group's group_wait ends
// runs the alert tick then; alerts_wake drains it, and a failing one lands in its poison queue.
resource wakeQueue 'Microsoft.Storage/storageAccounts/queueServices/queues@2023-05-01' = {
  parent: queueService
  name: wakeQueueName
}

resource wakePoisonQueue 'Microsoft.Storage/storageAccounts/queueServices/queues@2023-05-01' = {
  parent: queueService
  name: '${wakeQueueName}-poison'
}

resource tableService 'Microsoft.Storage/storageAccounts/tableServices@2023-05-01' = {
  parent: storage
  name: 'default'
}

resource stateTable 'Microsoft.Storage/storageAccounts/tableServices/tables@2023-05-01' = {
  parent: tableService
  name: stateTableName
}

// Data-plane audit logs (who read, wrote, deleted) for the three services amlguard uses.
var storageLogs = [
  {
    category: 'StorageRead'
    enabled: true
  }
  {
    category: 'StorageWrite'
    enabled: true
  }
  {
    category: 'StorageDelete'
    enabled: true
  }
]

resource blobDiagnostics 'Microsoft.Insights/diagnosticSettings@2021-05-01-preview' = {
  name: 'amlguard-blob-logs'
  scope: blobService
  properties: {
    workspaceId: logAnalyticsId
    logs: storageLogs
  }
}

resource queueDiagnostics 'Microsoft.Insights/diagnosticSettings@2021-05-01-preview' = {
  name: 'amlguard-queue-logs'
  scope: queueService
  properties: {
    workspaceId: logAnalyticsId
    logs: storageLogs
  }
}

resource tableDiagnostics 'Microsoft.Insights/diagnosticSettings@2021-05-01-preview' = {
  name: 'amlguard-table-logs'
  scope: tableService
  properties: {
    workspaceId: logAnalyticsId
    logs: storageLogs
  }
}

output storageAccountId string = storage.id
output storageAccountName string = storage.name
output blobEndpoint string = storage.properties.primaryEndpoints.blob
output queueEndpoint string = storage.properties.primaryEndpoints.queue
output tableEndpoint string = storage.properties.primaryEndpoints.table
output deploymentContainerName string = deploymentContainer.name
output deadLetterContainerName string = deadLetterContainer.name
output queueName string = sweepQueue.name
output wakeQueueName string = wakeQueue.name
output poisonQueueName string = sweepPoisonQueue.name
output stateTableName string = stateTable.name
