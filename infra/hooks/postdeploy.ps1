# azd postdeploy hook (Windows): same as postdeploy.sh. Once the function code is deployed,
# provision again with the Event Grid event subscriptions on; Event Grid checks an
# AzureFunction destination when the subscription is created.
$ErrorActionPreference = 'Stop'

if ($env:AMLGUARD_DEPLOY_EVENT_SUBSCRIPTION -eq 'true') {
    Write-Host "amlguard: event subscriptions are already part of this environment's provisioning."
    exit 0
}

if (Get-Command az -ErrorAction SilentlyContinue) {
    $tries = 0
    while ($true) {
        az functionapp function show --resource-group $env:AZURE_RESOURCE_GROUP `
            --name $env:AZURE_FUNCTION_APP_NAME --function-name on_resource_event `
            --query name --output tsv *> $null
        if ($LASTEXITCODE -eq 0) { break }
        $tries++
        if ($tries -ge 20) {
            Write-Error ("amlguard: on_resource_event is not indexed after 10 minutes; check the deployment logs, " +
                "then run: azd env set AMLGUARD_DEPLOY_EVENT_SUBSCRIPTION true; azd provision")
        }
        Write-Host "amlguard: waiting for on_resource_event to be indexed ($tries/20)..."
        Start-Sleep -Seconds 30
    }
}

azd env set AMLGUARD_DEPLOY_EVENT_SUBSCRIPTION true
azd provision --no-prompt
if ($LASTEXITCODE -ne 0) { exit $LASTEXITCODE }
