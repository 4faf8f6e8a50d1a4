// amlguard on Azure: `azd up` entry point. Creates the resource group, a Flex Consumption
// Function App running as a user-assigned identity, Entra-only storage, Log Analytics +
// Application Insights, and, for every subscription (or resource group) in scope, read-only
// role assignments and an Event Grid system topic that delivers Azure ML changes to the app.
targetScope = 'subscription'

@minLength(1)
@maxLength(64)
@description('azd environment name; names the resource group and seeds every resource name.')
param environmentName string

@minLength(1)
@description('Region for all resources; must offer Flex Consumption (az functionapp list-flexconsumption-locations).')
@metadata({
  azd: {
    type: 'location'
  }
})
param location string

@description('Resource group name (default rg-<environmentName>).')
param resourceGroupName string = ''

@description('Comma-separated subscription ids amlguard watches (default: the deployment subscription).')
param scopeSubscriptions string = ''

@description('Watch only this resource group in each scoped subscription (default: whole subscriptions).')
param scopeResourceGroup string = ''

@description('Grant the write access remediation needs (custom role, endpoint and deployment write only).')
param enableRemediation bool = false

@description('Create the Event Grid event subscriptions. Needs the function code deployed; the azd postdeploy hook sets it.')
param deployEventSubscription bool = false

@description('NCRONTAB schedule of the full sweep (sweep_timer).')
param sweepSchedule string = '0 */15 * * * *'

@description('NCRONTAB schedule of the SLO / drift monitor (monitor_timer).')
param monitorSchedule string = '0 */5 * * * *'

@description('NCRONTAB schedule of alert timers and notification delivery (alerts_timer).')
param alertsSchedule string = '*/30 * * * * *'

@description('Prefix of the Azure Table names amlguard keeps state in (letters and digits, starts with a letter).')
@minLength(3)
@maxLength(40)
param stateTablePrefix string = 'amlguard'

@description('Maximum instances the Flex Consumption app scales out to.')
@minValue(40)
@maxValue(1000)
param maximumInstanceCount int = 40

@description('Flex Consumption instance memory in MB.')
@allowed([
  2048
  4096
])
param instanceMemoryMB int = 2048

@description('Storage redundancy of the amlguard account (state, queues, dead-letters, package).')
@allowed([
  'Standard_LRS'
  'Standard_ZRS'
  'Standard_GRS'
  'Standard_GZRS'
])
param storageSkuName string = 'Standard_GRS'

@description('Zone-redundant Flex Consumption plan (only in regions that offer it; pair with Standard_ZRS or Standard_GZRS).')
param zoneRedundant bool = false

@description('Event Grid delivery attempts before an event is dead-lettered.')
@minValue(1)
@maxValue(30)
param eventMaxDeliveryAttempts int = 10

@description('Minutes Event Grid keeps retrying one event before it is dead-lettered.')
@minValue(1)
@maxValue(1440)
param eventTimeToLiveInMinutes int = 1440

@description('Days Log Analytics keeps data.')
@minValue(30)
@maxValue(730)
param logRetentionInDays int = 30

var resourceToken = toLower(uniqueString(subscription().id, environmentName, location))
var tags = {
  'azd-env-name': environmentName
  application: 'amlguard'
}
var rgName = !empty(resourceGroupName) ? resourceGroupName : 'rg-${environmentName}'
var scopeSubscriptionList = empty(scopeSubscriptions) ? subscription().subscriptionId : replace(scopeSubscriptions, ' ', '')
var scopeSubscriptionIds = split(scopeSubscriptionList, ',')
var queueName = 'amlguard-sweep'
var wakeQueueName = 'amlguard-wake'
var deadLetterContainerName = 'amlguard-deadletter'
var deploymentContainerName = 'app-package-${resourceToken}'

// Built-in read roles the identity gets on every scope (role definition GUIDs are global).
var readerRoleId = 'acdd72a7-3385-48ef-bd42-f606fba81ae7'
var monitoringReaderRoleId = '43d0d8ad-25c7-4714-9337-8ba259a9fe05'
var logAnalyticsReaderRoleId = '73c42c96-874c-492b-b04d-ab87d138a893'
var readRoleIds = [
  readerRoleId
  monitoringReaderRoleId
  logAnalyticsReaderRoleId
]

// Exactly what amlguard remediation writes: disable public network access and set traffic
// (endpoint PUT/PATCH), update a deployment, tag batch endpoints and deployments, disable public
// access of a workspace or registry and local auth of a compute. Reads come
// from Reader on the same scope; no delete, no key or secret actions, no wildcard.
var remediationActions = [
  'Microsoft.MachineLearningServices/workspaces/onlineEndpoints/write'
  'Microsoft.MachineLearningServices/workspaces/onlineEndpoints/deployments/write'
  'Microsoft.MachineLearningServices/workspaces/batchEndpoints/write'
  'Microsoft.MachineLearningServices/workspaces/batchEndpoints/deployments/write'
  // disable_public_network_access on a workspace (PATCH) and a registry (PUT), disable_local_auth
  // on a compute (PUT)
  'Microsoft.MachineLearningServices/workspaces/write'
  'Microsoft.MachineLearningServices/registries/write'
  'Microsoft.MachineLearningServices/workspaces/computes/write'
]
var remediationRoleGuid = guid(subscription().id, environmentName, 'amlguard-remediation')
var remediationScopes = [for subId in scopeSubscriptionIds: empty(scopeResourceGroup) ? '/subscriptions/${subId}' : '/subscriptions/${subId}/resourceGroups/${scopeResourceGroup}']
var scopeRoleIds = enableRemediation ? concat(readRoleIds, [
  remediationRoleGuid
]) : readRoleIds

resource rg 'Microsoft.Resources/resourceGroups@2024-03-01' = {
  name: rgName
  location: location
  tags: tags
}

module identity 'modules/identity.bicep' = {
  name: 'amlguard-identity'
  scope: rg
  params: {
    location: location
    tags: tags
    appIdentityName: 'id-amlguard-${resourceToken}'
    eventGridIdentityName: 'id-amlguard-eg-${resourceToken}'
  }
}

module monitoring 'modules/monitoring.bicep' = {
  name: 'amlguard-monitoring'
  scope: rg
  params: {
    location: location
    tags: tags
    logAnalyticsName: 'log-amlguard-${resourceToken}'
    applicationInsightsName: 'appi-amlguard-${resourceToken}'
    retentionInDays: logRetentionInDays
  }
}

module storage 'modules/storage.bicep' = {
  name: 'amlguard-storage'
  scope: rg
  params: {
    location: location
    tags: tags
    storageAccountName: 'stamlg${resourceToken}'
    deploymentContainerName: deploymentContainerName
    deadLetterContainerName: deadLetterContainerName
    queueName: queueName
    wakeQueueName: wakeQueueName
    stateTableName: stateTablePrefix
    logAnalyticsId: monitoring.outputs.logAnalyticsId
    skuName: storageSkuName
  }
}

module appRbac 'modules/app-rbac.bicep' = {
  name: 'amlguard-app-rbac'
  scope: rg
  params: {
    appPrincipalId: identity.outputs.appIdentityPrincipalId
    eventGridPrincipalId: identity.outputs.eventGridIdentityPrincipalId
    storageAccountName: storage.outputs.storageAccountName
    deadLetterContainerName: storage.outputs.deadLetterContainerName
    applicationInsightsName: monitoring.outputs.applicationInsightsName
  }
}

module function 'modules/function.bicep' = {
  name: 'amlguard-function'
  scope: rg
  dependsOn: [
    // The host starts pulling the package and touching storage as soon as the site exists.
    appRbac
  ]
  params: {
    location: location
    tags: tags
    planName: 'plan-amlguard-${resourceToken}'
    appName: 'func-amlguard-${resourceToken}'
    identityId: identity.outputs.appIdentityId
    identityClientId: identity.outputs.appIdentityClientId
    storageAccountName: storage.outputs.storageAccountName
    deploymentContainerName: storage.outputs.deploymentContainerName
    applicationInsightsName: monitoring.outputs.applicationInsightsName
    maximumInstanceCount: maximumInstanceCount
    instanceMemoryMB: instanceMemoryMB
    zoneRedundant: zoneRedundant
    amlguardSettings: {
      AMLGUARD_SCOPE_SUBSCRIPTIONS: scopeSubscriptionList
      AMLGUARD_SCOPE_RESOURCE_GROUP: scopeResourceGroup
      AMLGUARD_STATE_BACKEND: 'table'
      AMLGUARD_STATE_TABLE_ENDPOINT: 'https://${storage.outputs.storageAccountName}.table.${environment().suffixes.storage}'
      AMLGUARD_STATE_TABLE_PREFIX: stateTablePrefix
      AMLGUARD_QUEUE_NAME: queueName
      AMLGUARD_WAKE_QUEUE_NAME: wakeQueueName
      AMLGUARD_SWEEP_SCHEDULE: sweepSchedule
      AMLGUARD_MONITOR_SCHEDULE: monitorSchedule
      AMLGUARD_ALERTS_SCHEDULE: alertsSchedule
      AMLGUARD_REMEDIATION_ENABLED: enableRemediation ? 'true' : 'false'
    }
  }
}

// Custom role, created only with remediation on; assignable only on the scopes amlguard watches.
// Created in the first watched subscription (az role definition create uses the first
// assignable scope the same way), so it need not include the deployment subscription.
var remediationRoleName = 'amlguard remediation (${environmentName}, ${resourceToken})'

module remediationRole 'modules/remediation-role.bicep' = if (enableRemediation) {
  name: 'amlguard-remediation-role'
  scope: subscription(scopeSubscriptionIds[0])
  params: {
    roleGuid: remediationRoleGuid
    roleName: remediationRoleName
    actions: remediationActions
    assignableScopes: remediationScopes
  }
}

module scopes 'modules/scope.bicep' = [for subId in scopeSubscriptionIds: {
  name: 'amlguard-scope-${subId}'
  scope: subscription(subId)
  dependsOn: [
    remediationRole
    appRbac
  ]
  params: {
    principalId: identity.outputs.appIdentityPrincipalId
    roleDefinitionIds: scopeRoleIds
    scopeResourceGroupName: scopeResourceGroup
    topicResourceGroupName: rgName
    createTopicResourceGroup: subId != subscription().subscriptionId
    location: location
    tags: tags
    topicName: 'evgt-amlguard-${resourceToken}-${take(subId, 8)}'
    eventGridIdentityId: identity.outputs.eventGridIdentityId
    deployEventSubscription: deployEventSubscription
    functionAppId: function.outputs.functionAppId
    deadLetterStorageAccountId: storage.outputs.storageAccountId
    deadLetterContainerName: storage.outputs.deadLetterContainerName
    maxDeliveryAttempts: eventMaxDeliveryAttempts
    eventTimeToLiveInMinutes: eventTimeToLiveInMinutes
  }
}]

output AZURE_LOCATION string = location
output AZURE_TENANT_ID string = tenant().tenantId
output AZURE_RESOURCE_GROUP string = rg.name
output AZURE_FUNCTION_APP_NAME string = function.outputs.functionAppName
output AZURE_FUNCTION_URL string = 'https://${function.outputs.defaultHostName}/api'
output AMLGUARD_IDENTITY_CLIENT_ID string = identity.outputs.appIdentityClientId
output AMLGUARD_IDENTITY_PRINCIPAL_ID string = identity.outputs.appIdentityPrincipalId
output AMLGUARD_STORAGE_ACCOUNT string = storage.outputs.storageAccountName
output AMLGUARD_DEADLETTER_CONTAINER string = storage.outputs.deadLetterContainerName
output AMLGUARD_SCOPE_SUBSCRIPTIONS string = scopeSubscriptionList
output AMLGUARD_SYSTEM_TOPICS array = [for (subId, i) in scopeSubscriptionIds: {
  subscriptionId: subId
  resourceGroup: empty(scopeResourceGroup) ? rgName : scopeResourceGroup
  topicName: scopes[i].outputs.topicName
}]
output AMLGUARD_EVENT_SUBSCRIPTION_DEPLOYED bool = deployEventSubscription
output AMLGUARD_REMEDIATION_ENABLED bool = enableRemediation
output AMLGUARD_REMEDIATION_ROLE_NAME string = enableRemediation ? remediationRoleName : ''
