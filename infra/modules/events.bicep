// Event Grid system topic for one subscription (or one resource group) and the event
// subscription that delivers Azure ML control-plane changes to the on_resource_event function.

@description('System topic name.')
param topicName string

@description('Tags applied to the topic.')
param tags object

@description('Microsoft.Resources.Subscriptions or Microsoft.Resources.ResourceGroups.')
@allowed([
  'Microsoft.Resources.Subscriptions'
  'Microsoft.Resources.ResourceGroups'
])
param topicType string

@description('ARM id of the watched subscription or resource group.')
param source string

@description('Resource id of the user-assigned identity Event Grid dead-letters with.')
param eventGridIdentityId string

@description('Create the event subscription. The destination function must already be deployed (azd postdeploy hook).')
param deployEventSubscription bool

@description('Resource id of the Function App.')
param functionAppId string

@description('Name of the Event Grid trigger function.')
param functionName string = 'on_resource_event'

@description('Resource id of the storage account holding the dead-letter container.')
param deadLetterStorageAccountId string

@description('Dead-letter blob container name.')
param deadLetterContainerName string

@description('Delivery attempts before an event is dead-lettered (Event Grid allows 1-30).')
@minValue(1)
@maxValue(30)
param maxDeliveryAttempts int = 10

@description('Minutes an undelivered event lives before it is dead-lettered (1-1440).')
@minValue(1)
@maxValue(1440)
param eventTimeToLiveInMinutes int = 1440

// ARM operation names (data.operationName) of the Azure ML resources amlguard audits; a write
// or delete of anything else in the subscription never reaches the function.
var operationNames = [
  'Microsoft.MachineLearningServices/workspaces/write'
  'Microsoft.MachineLearningServices/workspaces/delete'
  'Microsoft.MachineLearningServices/workspaces/onlineEndpoints/write'
  'Microsoft.MachineLearningServices/workspaces/onlineEndpoints/delete'
  'Microsoft.MachineLearningServices/workspaces/onlineEndpoints/deployments/write'
  'Microsoft.MachineLearningServices/workspaces/onlineEndpoints/deployments/delete'
  'Microsoft.MachineLearningServices/workspaces/batchEndpoints/write'
  'Microsoft.MachineLearningServices/workspaces/batchEndpoints/delete'
  'Microsoft.MachineLearningServices/workspaces/batchEndpoints/deployments/write'
  'Microsoft.MachineLearningServices/workspaces/batchEndpoints/deployments/delete'
  // the workspace's other resources amlguard audits (computes, serverless endpoints, datastores)
  // and registries, which live beside workspaces
  'Microsoft.MachineLearningServices/workspaces/computes/write'
  'Microsoft.MachineLearningServices/workspaces/computes/delete'
  'Microsoft.MachineLearningServices/workspaces/serverlessEndpoints/write'
  'Microsoft.MachineLearningServices/workspaces/serverlessEndpoints/delete'
  'Microsoft.MachineLearningServices/workspaces/datastores/write'
  'Microsoft.MachineLearningServices/workspaces/datastores/delete'
  'Microsoft.MachineLearningServices/registries/write'
  'Microsoft.MachineLearningServices/registries/delete'
]

resource systemTopic 'Microsoft.EventGrid/systemTopics@2025-02-15' = {
  name: topicName
  // Subscription and resource-group topics are global resources.
  location: 'global'
  tags: tags
  identity: {
    type: 'UserAssigned'
    userAssignedIdentities: {
      '${eventGridIdentityId}': {}
    }
  }
  properties: {
    source: source
    topicType: topicType
  }
}

resource eventSubscription 'Microsoft.EventGrid/systemTopics/eventSubscriptions@2025-02-15' = if (deployEventSubscription) {
  parent: systemTopic
  name: 'amlguard-aml-changes'
  properties: {
    eventDeliverySchema: 'EventGridSchema'
    destination: {
      endpointType: 'AzureFunction'
      properties: {
        // Event Grid fetches and rotates the eventgrid_extension key itself for this type.
        resourceId: '${functionAppId}/functions/${functionName}'
        maxEventsPerBatch: 1
        preferredBatchSizeInKilobytes: 64
      }
    }
    filter: {
      includedEventTypes: [
        'Microsoft.Resources.ResourceWriteSuccess'
        'Microsoft.Resources.ResourceDeleteSuccess'
      ]
      advancedFilters: [
        {
          operatorType: 'StringIn'
          key: 'data.operationName'
          values: operationNames
        }
      ]
    }
    retryPolicy: {
      maxDeliveryAttempts: maxDeliveryAttempts
      eventTimeToLiveInMinutes: eventTimeToLiveInMinutes
    }
    deadLetterWithResourceIdentity: {
      identity: {
        type: 'UserAssigned'
        userAssignedIdentity: eventGridIdentityId
      }
      deadLetterDestination: {
        endpointType: 'StorageBlob'
        properties: {
          resourceId: deadLetterStorageAccountId
          blobContainerName: deadLetterContainerName
        }
      }
    }
  }
}

output topicName string = systemTopic.name
output topicId string = systemTopic.id
