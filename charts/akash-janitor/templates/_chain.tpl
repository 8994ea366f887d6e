{{/*
The chain side of a chain job (kill-lease-by-image, dangling-deployments):
call with the component's dict once its own "args", "volumes" and
"volumeMounts" are set. It appends the chain and closer flags, and the
volumes the closer needs, and for provider.closer=cli it sets
"initContainers", "containerImage" and "command". It prints nothing.

  tx:   the key Secret is mounted; the job signs in Go.
  cli:  the key Secret is mounted and imported, for the run only, into a
        keyring on a memory-backed emptyDir. The official CLI is linked
        against glibc and the janitor images have no C library, so the job
        runs in the provider's image (provider.cli.image) instead: an init
        container copies the static janitor binary there.
  exec: no key here; the CLI runs in the provider pod (see
        akash-janitor.execRBAC).
With "closes" false in the dict (a job set to close nothing) it adds the
chain flags only: no key, no CLI, no exec rights. With "bids" true (a job
that closes bids, not leases) it adds neither the lease namespace nor the
daily lease close budget.
*/}}
{{- define "akash-janitor.chainSetup" -}}
{{- $p := .root.Values.provider -}}
{{- $args := concat .args (list
  (printf "--chain-rest=%s" (join "," $p.chain.rest))
  (printf "--chain-id=%s" $p.chain.chainID)
  (printf "--market-api=%s" $p.chain.marketAPI)
  (printf "--gas-prices=%s" $p.chain.gasPrices)
  (printf "--gas-adjustment=%v" $p.chain.gasAdjustment)
  (printf "--provider=%s" $p.address)
  (printf "--completion-window=%s" $p.completionWindow)) -}}
{{- if not .bids -}}
{{- $args = append $args (printf "--manifest-namespace=%s" $p.manifestNamespace) -}}
{{- end -}}
{{- $volumes := .volumes | default "" -}}
{{- $mounts := .volumeMounts | default "" -}}
{{- $closer := include "akash-janitor.closer" . -}}
{{- if $closer -}}
{{- $args = append $args (printf "--closer=%s" $closer) -}}
{{- if not .bids -}}
{{- $args = concat $args (list
  (printf "--min-completion-rate=%v" $p.minCompletionRate)
  (printf "--max-closes-per-day=%v" (int $p.closeBudget))
  (printf "--close-budget-configmap=%s/%s" (include "akash-janitor.namespace" .root) (include "akash-janitor.closeBudgetName" .root))) -}}
{{- end -}}
{{- end -}}
{{- if not $closer -}}
{{- else if eq $closer "exec" -}}
{{- $args = concat $args (list
  (printf "--cli=%s" $p.cli.command)
  (printf "--provider-pod=%s/%s" $p.exec.namespace $p.exec.pod)
  (printf "--provider-container=%s" $p.exec.container)) -}}
{{- else -}}
{{- $args = concat $args (list
  (printf "--authz=%v" $p.authz)
  (printf "--key-file=/keys/%s" $p.keySecret.keyItem)
  (printf "--key-pass-file=/keys/%s" $p.keySecret.passphraseItem)) -}}
{{- /* The key is mounted from the provider's Secret by the kubelet: no
RBAC on Secrets. optional: the pod starts without it, and the job, given
its input, says the key is missing. */ -}}
{{- $volumes = printf `%s
- name: keys
  secret:
    secretName: %s
    optional: true
    defaultMode: 288 # 0440: the pod's fsGroup reads it, nobody else
    items:
      - key: %s
        path: %s
      - key: %s
        path: %s
` $volumes $p.keySecret.name $p.keySecret.keyItem $p.keySecret.keyItem $p.keySecret.passphraseItem $p.keySecret.passphraseItem -}}
{{- $mounts = printf `%s
- name: keys
  mountPath: /keys
  readOnly: true
` $mounts -}}
{{- end -}}
{{- if eq $closer "cli" -}}
{{- if not $p.cli.image -}}
{{- fail "provider.closer=cli needs provider.cli.image: the provider's image, which has the CLI (e.g. ghcr.io/akash-network/provider:<the provider's version>)" -}}
{{- end -}}
{{- $args = concat $args (list
  (printf "--cli=%s" $p.cli.command)
  (printf "--chain-rpc=%s" $p.cli.rpc)
  "--cli-home=/keyring") -}}
{{- $volumes = printf `%s
- name: janitor-bin
  emptyDir:
    sizeLimit: 256Mi
# The keyring holds the key unencrypted for the run: memory, never disk.
- name: keyring
  emptyDir:
    medium: Memory
    sizeLimit: 16Mi
` $volumes -}}
{{- $mounts = printf `%s
- name: janitor-bin
  mountPath: /janitor-bin
  readOnly: true
- name: keyring
  mountPath: /keyring
` $mounts -}}
{{- $_ := set . "initContainers" (printf `
- name: install-janitor
  image: %s
  imagePullPolicy: %s
  args: ["--install-to=/janitor-bin"]
  volumeMounts:
    - name: janitor-bin
      mountPath: /janitor-bin
  resources:
    requests: {cpu: 10m, memory: 16Mi}
    limits: {memory: 64Mi}
  securityContext:
    %s
` (include "akash-janitor.image" .) .root.Values.global.image.pullPolicy (include "akash-janitor.containerSecurityContext" . | nindent 4 | trim)) -}}
{{- $_ := set . "containerImage" $p.cli.image -}}
{{- $_ := set . "command" (list (printf "/janitor-bin/%s" .component)) -}}
{{- end -}}
{{- $_ := set . "args" $args -}}
{{- $_ := set . "volumes" $volumes -}}
{{- $_ := set . "volumeMounts" $mounts -}}
{{- end -}}

{{/*
For provider.closer=exec: the job may run commands in the provider pod,
that one pod by name and nothing else there.
*/}}
{{- define "akash-janitor.execRBAC" -}}
{{- $p := .root.Values.provider -}}
{{- if eq (include "akash-janitor.closer" .) "exec" }}
{{ include "akash-janitor.namedObjectRole" (dict "c" . "suffix" "-exec" "namespace" $p.exec.namespace
  "resource" "pods/exec" "name" $p.exec.pod "verbs" (list "create")
  "comment" "The exec closer: commands in the provider pod, that one pod."
  "annotations" `
# What the exec closer is: polaris flags any Role allowing pods/exec.
polaris.fairwinds.com/rolePodExecAttach-exempt: "true"
polaris.fairwinds.com/rolebindingRolePodExecAttach-exempt: "true"
`) }}
{{- end }}
{{- end -}}

{{/* The daily close budget's record (provider.closeBudget). */}}
{{- define "akash-janitor.providerRestartName" -}}
{{ include "akash-janitor.fullname" . }}-provider-restart
{{- end -}}

{{/* The restart's flags (provider.restart), as a YAML list: call with the root. */}}
{{- define "akash-janitor.restartArgs" -}}
- --restart-pod={{ .Values.provider.restart.pod }}
- --restart-cooldown={{ .Values.provider.restart.cooldown }}
- --restart-record-configmap={{ include "akash-janitor.namespace" . }}/{{ include "akash-janitor.providerRestartName" . }}
{{- end -}}

{{/*
A job that restarts the provider (provider.restart) may read and delete
that one pod, and read and update the restart's record, that one
ConfigMap: call with the component's dict.
*/}}
{{- define "akash-janitor.restartRBAC" -}}
{{- $pod := splitList "/" .root.Values.provider.restart.pod }}
{{ include "akash-janitor.namedObjectRole" (dict "c" . "suffix" "-restart-provider" "namespace" (index $pod 0)
  "resource" "pods" "name" (index $pod 1) "verbs" (list "get" "delete")
  "comment" "The provider's restart (provider.restart): that one pod, read and deleted; its StatefulSet starts it again.") }}
{{ include "akash-janitor.namedObjectRole" (dict "c" . "suffix" "-restart-record" "namespace" (include "akash-janitor.namespace" .root)
  "resource" "configmaps" "name" (include "akash-janitor.providerRestartName" .root) "verbs" (list "get" "update")
  "comment" "The restart's cool-down record, shared by the jobs that restart: that one ConfigMap, read and updated.") }}
{{- end -}}

{{/* Whether any job restarts the provider: the record is rendered then. */}}
{{- define "akash-janitor.restarts" -}}
{{- if or (and .Values.danglingDeployments.enabled (eq .Values.danglingDeployments.restartProvider.mode "when-leaked")) (and .Values.restoreCommand.enabled (eq .Values.restoreCommand.restartProvider "after-patch")) -}}true{{- end -}}
{{- end -}}

{{- define "akash-janitor.closeBudgetName" -}}
{{ include "akash-janitor.fullname" . }}-close-budget
{{- end -}}

{{/*
With a daily close budget: the job may read and update the budget's record,
that one ConfigMap by name and nothing else there.
*/}}
{{- define "akash-janitor.closeBudgetRBAC" -}}
{{- if and (include "akash-janitor.closer" .) (gt (int .root.Values.provider.closeBudget) 0) }}
{{ include "akash-janitor.namedObjectRole" (dict "c" . "suffix" "-close-budget" "namespace" (include "akash-janitor.namespace" .root)
  "resource" "configmaps" "name" (include "akash-janitor.closeBudgetName" .root) "verbs" (list "get" "update")
  "comment" "The daily close budget's record (provider.closeBudget): that one ConfigMap, read and updated.") }}
{{- end }}
{{- end -}}

{{/* The job's closer: provider.closer, or nothing when it closes nothing. */}}
{{- define "akash-janitor.closer" -}}
{{- if or (not (hasKey . "closes")) .closes -}}{{ .root.Values.provider.closer }}{{- end -}}
{{- end -}}

{{/*
The denied-images admission policy (killLeaseByImage.admissionPolicy):
"true" when it is rendered: with the job, when enabled says so, or, left
null, once the denylist has an entry. ValidatingAdmissionPolicy v1 needs
Kubernetes 1.30: before, null leaves it out and true fails the install.
*/}}
{{- define "akash-janitor.admissionPolicy" -}}
{{- $v := .Values.killLeaseByImage -}}
{{- $on := (($v.admissionPolicy | default dict).enabled) -}}
{{- $supported := semverCompare ">=1.30.0-0" .Capabilities.KubeVersion.Version -}}
{{- if and $v.enabled (eq (toString $on) "true") (not $supported) -}}
{{- fail (printf "killLeaseByImage.admissionPolicy.enabled=true needs Kubernetes 1.30 or later (ValidatingAdmissionPolicy, admissionregistration.k8s.io/v1); this cluster runs %s" .Capabilities.KubeVersion.Version) -}}
{{- end -}}
{{- if and $v.enabled $supported (ternary (gt (len $v.denylist) 0) $on (kindIs "invalid" $on)) -}}true{{- end -}}
{{- end -}}

{{- define "akash-janitor.admissionPolicyName" -}}
{{ include "akash-janitor.fullname" . }}-denied-images
{{- end -}}

{{- define "akash-janitor.admissionParamsName" -}}
{{ include "akash-janitor.fullname" . }}-denied-images-params
{{- end -}}

{{/* The binding's validationActions: as set, else by the job's dry-run. */}}
{{- define "akash-janitor.admissionActions" -}}
{{- $v := .Values.killLeaseByImage -}}
{{- $dry := include "akash-janitor.dryRun" (dict "root" . "values" $v) -}}
{{- toJson (($v.admissionPolicy | default dict).validationActions | default (ternary (list "Warn" "Audit") (list "Deny") (eq $dry "true"))) -}}
{{- end -}}
