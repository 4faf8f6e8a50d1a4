// Everything amlguard needs in one subscription it watches: read roles for the Function App
// identity (plus the remediation role when enabled), on the subscription or on one resource
// group, and the Event Grid system topic that reports Azure ML changes there.
targetScope = 'subscription'

@description('Principal id of the Function App identity.')
param principalId string

@description('Role definition GUIDs to assign on the scope.')
param roleDefinitionIds array

@description('Watch only this resource group (empty: the whole subscription).')
param scopeResourceGroupName string = ''

@description('Resource group that holds the subscription-level system topic.')
param topicResourceGroupName string

@description('Create topicResourceGroupName (for subscriptions other than the deployment one).')
param createTopicResourceGroup bool

@description('Region for a created topic resource group.')
param location string

@description('Tags applied to every resource.')
param tags object

@description('System topic name.')
param topicName string

@description('Resource id of the Event Grid identity.')
param eventGridIdentityId string

@description('Create the event subscription (function code must be deployed).')
param deployEventSubscription bool

@description('Resource id of the Function App.')
param functionAppId string

@description('Resource id of the storage account holding the dead-letter container.')
param deadLetterStorageAccountId string

@description('Dead-letter blob container name.')
param deadLetterContainerName string

@description('Event Grid delivery attempts before dead-lettering.')
param maxDeliveryAttempts int

@description('Event Grid event time to live in minutes.')
param eventTimeToLiveInMinutes int

var watchWholeSubscription = empty(scopeResourceGroupName)

// Subscription-wide read access: only when no resource group narrows the scope.
resource subscriptionAssignments 'Microsoft.Authorization/roleAssignments@2022-04-01' = [for roleId in roleDefinitionIds: if (watchWholeSubscription) {
  name: guid(subscription().id, principalId, roleId)
  properties: {
    roleDefinitionId: subscriptionResourceId('Microsoft.Authorization/roleDefinitions', roleId)
    principalId: principalId
    principalType: 'ServicePrincipal'
  }
}]

module resourceGroupAssignments 'scope-rbac-rg.bicep' = if (!watchWholeSubscription) {
  name: 'amlguard-rbac-${uniqueString(subscription().id, scopeResourceGroupName)}'
  scope: resourceGroup(watchWholeSubscription ? topicResourceGroupName : scopeResourceGroupName)
  params: {
    principalId: principalId
    roleDefinitionIds: roleDefinitionIds
  }
}

resource topicResourceGroup 'Microsoft.Resources/resourceGroups@2024-03-01' = if (watchWholeSubscription && createTopicResourceGroup) {
  name: topicResourceGroupName
  location: location
  tags: tags
}

// A resource-group topic lives in the group it watches; a subscription topic in the amlguard
// resource group of that subscription.
module events 'events.bicep' = {
  name: 'amlguard-events-${uniqueString(subscription().id, scopeResourceGroupName)}'
  scope: resourceGroup(watchWholeSubscription ? topicResourceGroupName : scopeResourceGroupName)
  dependsOn: [
    topicResourceGroup
  ]
  params: {
    topicName: topicName
    tags: tags
    topicType: watchWholeSubscription ? 'Microsoft.Resources.Subscriptions' : 'Microsoft.Resources.ResourceGroups'
    source: watchWholeSubscription ? subscription().id : '${subscription().id}/resourceGroups/${scopeResourceGroupName}'
    eventGridIdentityId: eventGridIdentityId
    deployEventSubscription: deployEventSubscription
    functionAppId: functionAppId
    deadLetterStorageAccountId: deadLetterStorageAccountId
    deadLetterContainerName: deadLetterContainerName
    maxDeliveryAttempts: maxDeliveryAttempts
    eventTimeToLiveInMinutes: eventTimeToLiveInMinutes
  }
}

output topicName string = events.outputs.topicName
output topicId string = events.outputs.topicId
