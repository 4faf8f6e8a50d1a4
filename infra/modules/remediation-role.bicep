// The amlguard remediation custom role: exactly the Azure ML write actions remediation performs,
// assignable only on the scopes amlguard watches. Created in the first watched subscription,
// which lies inside (or is) every assignable scope's subscription list.
targetScope = 'subscription'

@description('Role definition GUID (stable per environment).')
param roleGuid string

@description('Role name, unique in the tenant.')
param roleName string

@description('Actions the role grants.')
param actions array

@description('Subscriptions or resource groups the role may be assigned on.')
param assignableScopes array

resource remediationRole 'Microsoft.Authorization/roleDefinitions@2022-04-01' = {
  name: roleGuid
  properties: {
    roleName: roleName
    description: 'Lets amlguard update Azure ML online/batch endpoints and deployments (public network access, traffic, tags). No delete, no keys.'
    type: 'CustomRole'
    permissions: [
      {
        actions: actions
        notActions: []
        dataActions: []
        notDataActions: []
      }
    ]
    assignableScopes: assignableScopes
  }
}

output roleDefinitionId string = remediationRole.id
