// Read roles (and, when remediation is on, the amlguard remediation role) for the Function App
// identity on one resource group in scope.

@description('Principal id of the Function App identity.')
param principalId string

@description('Role definition ids to assign (GUIDs or full ids).')
param roleDefinitionIds array

resource assignments 'Microsoft.Authorization/roleAssignments@2022-04-01' = [for roleId in roleDefinitionIds: {
  name: guid(resourceGroup().id, principalId, roleId)
  properties: {
    roleDefinitionId: subscriptionResourceId('Microsoft.Authorization/roleDefinitions', last(split(roleId, '/')))
    principalId: principalId
    principalType: 'ServicePrincipal'
  }
}]
