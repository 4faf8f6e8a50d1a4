#!/bin/sh
# azd postdeploy hook: once the function code is deployed, provision again with the Event Grid
# event subscriptions on. Event Grid checks an AzureFunction destination when the subscription is
# created, so it cannot be part of the first provision. Runs once per azd environment.
set -eu

if [ "${AMLGUARD_DEPLOY_EVENT_SUBSCRIPTION:-false}" = "true" ]; then
  echo "amlguard: event subscriptions are already part of this environment's provisioning."
  exit 0
fi

# Wait until the host has indexed the Event Grid trigger (needs the Azure CLI; skipped without it).
if command -v az >/dev/null 2>&1; then
  tries=0
  until az functionapp function show \
      --resource-group "${AZURE_RESOURCE_GROUP}" --name "${AZURE_FUNCTION_APP_NAME}" \
      --function-name on_resource_event --query name --output tsv >/dev/null 2>&1; do
    tries=$((tries + 1))
    if [ "${tries}" -ge 20 ]; then
      echo "amlguard: on_resource_event is not indexed after 10 minutes; check the deployment logs," >&2
      echo "then run: azd env set AMLGUARD_DEPLOY_EVENT_SUBSCRIPTION true && azd provision" >&2
      exit 1
    fi
    echo "amlguard: waiting for on_resource_event to be indexed (${tries}/20)..."
    sleep 30
  done
fi

azd env set AMLGUARD_DEPLOY_EVENT_SUBSCRIPTION true
azd provision --no-prompt
