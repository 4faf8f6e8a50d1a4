// User-assigned managed identities: one for the Function App (ARM reads, storage, telemetry) and
// one for the Event Grid system topics (dead-lettering only). Separate identities keep each one's
// role set minimal and make the audit trail say which component acted.

@description('Azure region for the identities.')
param location string

@description('Tags applied to every resource.')
param tags object

@description('Name of the Function App identity.')
param appIdentityName string

@description('Name of the Event Grid identity (system topics dead-letter with it).')
param eventGridIdentityName string

resource appIdentity 'Microsoft.ManagedIdentity/userAssignedIdentities@2023-01-31' = {
  name: appIdentityName
  location: location
  tags: tags
}

resource eventGridIdentity 'Microsoft.ManagedIdentity/userAssignedIdentities@2023-01-31' = {
  name: eventGridIdentityName
  location: location
  tags: tags
}

output appIdentityId string = appIdentity.id
output appIdentityName string = appIdentity.name
output appIdentityClientId string = appIdentity.properties.clientId
output appIdentityPrincipalId string = appIdentity.properties.principalId
output eventGridIdentityId string = eventGridIdentity.id
output eventGridIdentityPrincipalId string = eventGridIdentity.properties.principalId
