// The landmeter reader role for a whole management group: a custom role with the control-plane
// read actions of deploy/policies/azure-agent-role.json, assignable at the management group the
// deployment targets, and its assignment there to the agent's principal. The same as
// landmeter-reader.json (ARM); a test checks both against the agent's call registry
// (agent/src/providers/azure/calls.rs).
//
// No data actions: Azure does not assign a custom role with data actions at management-group
// scope, so the Managed HSM key data action of azure-agent-role.json is left out (see
// deploy/README.md, "Onboarding").
//
//   az deployment mg create --management-group-id <group> --location <region> \
//     --template-file landmeter-reader.bicep --parameters principalId=<object id>
targetScope = 'managementGroup'

@description('Object id of the agent\'s service principal or managed identity.')
param principalId string

@description('Type of principalId.')
@allowed([
  'ServicePrincipal'
  'Group'
  'User'
])
param principalType string = 'ServicePrincipal'

@description('Name of the custom role, unique in the tenant (the subscription-scope role of deploy/policies/azure-agent-role.json is "Landmeter Reader").')
param roleName string = 'Landmeter Management Group Reader'

resource reader 'Microsoft.Authorization/roleDefinitions@2022-04-01' = {
  name: guid(managementGroup().id, roleName)
  properties: {
    roleName: roleName
    description: 'Read-only metadata for the landmeter agent across a management group: subscriptions, storage accounts, encryption scopes, containers, key vault and managed HSM key properties, capacity metrics, and the settings of databases, disks, snapshots, backup vaults, file shares and log workspaces. No blob, database or file data, no account keys, no key operations.'
    type: 'CustomRole'
    assignableScopes: [
      managementGroup().id
    ]
    permissions: [
      {
        actions: [
          'Microsoft.Resources/subscriptions/read'
          'Microsoft.Storage/storageAccounts/read'
          'Microsoft.Storage/storageAccounts/encryptionScopes/read'
          'Microsoft.Storage/storageAccounts/blobServices/containers/read'
          'Microsoft.KeyVault/vaults/read'
          'Microsoft.KeyVault/managedHSMs/read'
          'Microsoft.KeyVault/vaults/keys/read'
          'Microsoft.KeyVault/managedHSMs/keys/read'
          'Microsoft.Insights/metrics/read'
          'Microsoft.Resources/subscriptions/locations/read'
          'Microsoft.Compute/disks/read'
          'Microsoft.Compute/snapshots/read'
          'Microsoft.Compute/diskEncryptionSets/read'
          'Microsoft.Sql/servers/read'
          'Microsoft.Sql/servers/databases/read'
          'Microsoft.Sql/servers/encryptionProtector/read'
          'Microsoft.Sql/servers/databases/transparentDataEncryption/read'
          'Microsoft.Sql/servers/databases/replicationLinks/read'
          'Microsoft.Sql/servers/failoverGroups/read'
          'Microsoft.DBforPostgreSQL/flexibleServers/read'
          'Microsoft.DBforMySQL/flexibleServers/read'
          'Microsoft.DocumentDB/databaseAccounts/read'
          'Microsoft.RecoveryServices/vaults/read'
          'Microsoft.RecoveryServices/vaults/backupstorageconfig/read'
          'Microsoft.DataProtection/backupVaults/read'
          'Microsoft.Storage/storageAccounts/fileServices/shares/read'
          'Microsoft.OperationalInsights/workspaces/read'
          'Microsoft.OperationalInsights/clusters/read'
        ]
        notActions: []
        dataActions: []
        notDataActions: []
      }
    ]
  }
}

resource assignment 'Microsoft.Authorization/roleAssignments@2022-04-01' = {
  name: guid(managementGroup().id, reader.id, principalId)
  properties: {
    roleDefinitionId: reader.id
    principalId: principalId
    principalType: principalType
  }
}

@description('Resource id of the custom role definition.')
output roleDefinitionId string = reader.id

@description('Resource id of the role assignment.')
output roleAssignmentId string = assignment.id
