{{/* Names and labels shared by every component. */}}

{{- define "akash-janitor.name" -}}
{{- .Values.nameOverride | default .Chart.Name | trunc 63 | trimSuffix "-" -}}
{{- end -}}

{{- define "akash-janitor.fullname" -}}
{{- if .Values.fullnameOverride -}}
{{- .Values.fullnameOverride | trunc 63 | trimSuffix "-" -}}
{{- else -}}
{{- $name := include "akash-janitor.name" . -}}
{{- if contains $name .Release.Name -}}
{{- .Release.Name | trunc 63 | trimSuffix "-" -}}
{{- else -}}
{{- printf "%s-%s" .Release.Name $name | trunc 63 | trimSuffix "-" -}}
{{- end -}}
{{- end -}}
{{- end -}}

{{/*
global.part: the components a release may run. Every template file
includes this first; it turns off (enabled: false) what the part leaves to
the other release, so every file sees the same set whatever the order
Helm renders them in. A node release must say where the pause switch is.
*/}}
{{- define "akash-janitor.applyPart" -}}
{{- /* gpuDoctor is providerDoctor's old name, read until 0.3.0: what it
sets wins (merged once; every template includes this first). */ -}}
{{- if and .Values.gpuDoctor (not (hasKey .Values.providerDoctor "mergedGPUDoctor")) -}}
{{- $_ := set .Values "providerDoctor" (mergeOverwrite (deepCopy .Values.providerDoctor) (deepCopy .Values.gpuDoctor) (dict "mergedGPUDoctor" true)) -}}
{{- end -}}
{{- $part := .Values.global.part | default "all" -}}
{{- $node := list "zombieReaper" "certExpiry" -}}
{{- range $key := list "forceReplicasets" "zombieReaper" "bidPrice" "providerDoctor" "restoreCommand" "certExpiry" "killLeaseByImage" "danglingDeployments" "closeStaleBids" -}}
{{- $c := get $.Values $key -}}
{{- if or (and (eq $part "node") (not (has $key $node))) (and (eq $part "cluster") (has $key $node)) -}}
{{- $_ := set $c "enabled" false -}}
{{- end -}}
{{- end -}}
{{- if and (eq $part "node") (not .Values.global.pauseNamespace) -}}
{{- fail "global.part=node needs global.pauseNamespace: the namespace of the release that runs the other components (akash-services), so that its pause switch holds this release's zombie-reaper too" -}}
{{- end -}}
{{- end -}}

{{/* The namespace of the pause switch, shared by the provider's releases. */}}
{{- define "akash-janitor.pauseNamespace" -}}
{{- .Values.global.pauseNamespace | default (include "akash-janitor.namespace" .) -}}
{{- end -}}

{{/*
One release of a provider closes leases: another release's lease-closing
CronJob anywhere in the cluster fails the install, naming it (lookup finds
nothing under helm template, which renders as usual). Call with the root
and the component's name.
*/}}
{{- define "akash-janitor.soleCloser" -}}
{{- $root := index . 0 -}}
{{- $component := index . 1 -}}
{{- $found := lookup "batch/v1" "CronJob" "" "" -}}
{{- range $cj := ($found.items | default list) -}}
{{- $l := $cj.metadata.labels | default dict -}}
{{- if and (eq (get $l "app.kubernetes.io/part-of") "akash-janitor") (eq (get $l "app.kubernetes.io/component") $component) -}}
{{- if not (and (eq (get $l "app.kubernetes.io/instance") $root.Release.Name) (eq $cj.metadata.namespace (include "akash-janitor.namespace" $root))) -}}
{{- fail (printf "release %s in namespace %s already runs %s (CronJob %s): one release of a provider closes leases. Install this one with global.part=node (zombie-reaper and cert-expiry only), or turn %s off in one of them" (get $l "app.kubernetes.io/instance") $cj.metadata.namespace $component $cj.metadata.name $component) -}}
{{- end -}}
{{- end -}}
{{- end -}}
{{- end -}}

{{/* The namespace the release's objects go to. */}}
{{- define "akash-janitor.namespace" -}}
{{- .Values.namespaceOverride | default .Release.Namespace -}}
{{- end -}}

{{/* A pod template's metadata: the component's labels and podLabels,
podAnnotations. */}}
{{- define "akash-janitor.podMetadata" -}}
labels:
  {{- include "akash-janitor.labels" . | nindent 2 }}
  {{- with .root.Values.podLabels }}
  {{- toYaml . | nindent 2 }}
  {{- end }}
{{- with .root.Values.podAnnotations }}
annotations:
  {{- toYaml . | nindent 2 }}
{{- end }}
{{- end -}}

{{/* The name of one component's objects: <fullname>-<component>. */}}
{{- define "akash-janitor.componentName" -}}
{{- printf "%s-%s" (include "akash-janitor.fullname" .root) .component | trunc 52 | trimSuffix "-" -}}
{{- end -}}

{{- define "akash-janitor.labels" -}}
helm.sh/chart: {{ printf "%s-%s" .root.Chart.Name .root.Chart.Version | replace "+" "_" }}
app.kubernetes.io/name: {{ include "akash-janitor.name" .root }}
app.kubernetes.io/instance: {{ .root.Release.Name }}
app.kubernetes.io/version: {{ .root.Chart.AppVersion | quote }}
app.kubernetes.io/managed-by: {{ .root.Release.Service }}
app.kubernetes.io/part-of: akash-janitor
app.kubernetes.io/component: {{ .component }}
{{- with merge (dict) (.root.Values.commonLabels | default dict) .root.Values.global.commonLabels }}
{{ toYaml . }}
{{- end }}
{{- end -}}

{{- define "akash-janitor.selectorLabels" -}}
{{ include "akash-janitor.releaseSelectorLabels" .root }}
app.kubernetes.io/component: {{ .component }}
{{- end -}}

{{- /* every pod of the release, whatever its component */ -}}
{{- define "akash-janitor.releaseSelectorLabels" -}}
app.kubernetes.io/name: {{ include "akash-janitor.name" . }}
app.kubernetes.io/instance: {{ .Release.Name }}
{{- end -}}

{{- define "akash-janitor.image" -}}
{{- $g := .root.Values.global.image -}}
{{- $repo := .values.image.repository | default (printf "%s/%s/%s" $g.registry $g.repository .component) -}}
{{- $tag := .values.image.tag | default $g.tag | default .root.Chart.AppVersion -}}
{{- printf "%s:%s" $repo $tag -}}
{{- end -}}

{{/* dryRun of a component: its own if set, else the global one. */}}
{{- define "akash-janitor.dryRun" -}}
{{- if kindIs "bool" .values.dryRun -}}{{ .values.dryRun }}{{- else -}}{{ .root.Values.global.dryRun }}{{- end -}}
{{- end -}}

{{/* The restricted Pod Security profile, for every component but the
zombie reaper. fsGroup: mounted Secrets (the provider key) belong to this
group, readable by it only (defaultMode 0440). */}}
{{- define "akash-janitor.restrictedPodSecurity" -}}
runAsNonRoot: true
runAsUser: 65532
runAsGroup: 65532
fsGroup: 65532
seccompProfile:
  type: RuntimeDefault
{{- end -}}

{{- define "akash-janitor.restrictedContainerSecurity" -}}
allowPrivilegeEscalation: false
readOnlyRootFilesystem: true
capabilities:
  drop: ["ALL"]
{{- end -}}

{{/* A pod's securityContext: "default" (YAML text; the restricted profile
when left out) with the component's podSecurityContext merged over it, a
key set there winning. */}}
{{- define "akash-janitor.podSecurityContext" -}}
{{- $default := .podSecurityDefault | default (include "akash-janitor.restrictedPodSecurity" .) | fromYaml -}}
{{- toYaml (mergeOverwrite $default (deepCopy (.values.podSecurityContext | default dict))) -}}
{{- end -}}

{{/* A container's securityContext: "containerSecurityDefault" (YAML
text; the restricted one when left out) with the component's
securityContext merged over it. */}}
{{- define "akash-janitor.containerSecurityContext" -}}
{{- $default := .containerSecurityDefault | default (include "akash-janitor.restrictedContainerSecurity" .) | fromYaml -}}
{{- toYaml (mergeOverwrite $default (deepCopy (.values.securityContext | default dict))) -}}
{{- end -}}

{{/* The ServiceAccount a component's pods run as: serviceAccount.name, or
<fullname>-<component>. */}}
{{- define "akash-janitor.serviceAccountName" -}}
{{- (.values.serviceAccount | default dict).name | default (include "akash-janitor.componentName" .) -}}
{{- end -}}

{{/* Whether the chart makes a component's ServiceAccount (serviceAccount.create,
true unless false). */}}
{{- define "akash-janitor.createServiceAccount" -}}
{{- ne (toString (.values.serviceAccount | default dict).create) "false" -}}
{{- end -}}

{{/* The annotations of a component's workload object (CronJob, DaemonSet,
Deployment, Job): "exemptions" (YAML text: the scanners' exemptions the
chart sets, each with its reason), then the component's annotations. */}}
{{- define "akash-janitor.workloadAnnotations" -}}
{{- $a := mergeOverwrite (.exemptions | default "" | fromYaml) (deepCopy (.values.annotations | default dict)) -}}
{{- with $a }}
annotations:
  {{- toYaml . | nindent 2 }}
{{- end }}
{{- end -}}

{{/*
A component's ServiceAccount, ClusterRole and binding. Call with the
component's dict plus "rules": the ClusterRole's rules as YAML text
(none: no ClusterRole). Cluster-wide because tenant namespaces are many and
made on the fly.
*/}}
{{- define "akash-janitor.rbac" -}}
{{- if eq (include "akash-janitor.createServiceAccount" .) "true" }}
apiVersion: v1
kind: ServiceAccount
metadata:
  name: {{ include "akash-janitor.serviceAccountName" . }}
  namespace: {{ include "akash-janitor.namespace" .root }}
  labels:
    {{- include "akash-janitor.labels" . | nindent 4 }}
  {{- with (.values.serviceAccount | default dict).annotations }}
  annotations:
    {{- toYaml . | nindent 4 }}
  {{- end }}
automountServiceAccountToken: true
{{- end }}
{{- if and .rules .root.Values.rbac.create }}
---
apiVersion: rbac.authorization.k8s.io/v1
kind: ClusterRole
metadata:
  name: {{ include "akash-janitor.componentName" . }}
  labels:
    {{- include "akash-janitor.labels" . | nindent 4 }}
rules:
  {{- .rules | trim | nindent 2 }}
---
apiVersion: rbac.authorization.k8s.io/v1
kind: ClusterRoleBinding
metadata:
  name: {{ include "akash-janitor.componentName" . }}
  labels:
    {{- include "akash-janitor.labels" . | nindent 4 }}
roleRef:
  apiGroup: rbac.authorization.k8s.io
  kind: ClusterRole
  name: {{ include "akash-janitor.componentName" . }}
subjects:
  {{- include "akash-janitor.subject" . | nindent 2 }}
{{- end }}
{{- if .pausable }}
{{ include "akash-janitor.namedObjectRole" (dict "c" . "suffix" "-pause" "namespace" (include "akash-janitor.pauseNamespace" .root)
  "resource" "configmaps" "name" .root.Values.global.pauseConfigMap "verbs" (list "get")
  "comment" "The pause switch (global.pauseConfigMap): that one ConfigMap, read only.") }}
{{- end }}
{{- if and .needsProvider .root.Values.global.blockers.providerPod }}
{{- $pod := splitList "/" .root.Values.global.blockers.providerPod }}
{{ include "akash-janitor.namedObjectRole" (dict "c" . "suffix" "-provider-ready" "namespace" (index $pod 0)
  "resource" "pods" "name" (index $pod 1) "verbs" (list "get")
  "comment" "The provider blocker (global.blockers.providerPod): that one pod, read only, to see whether it is Ready.") }}
{{- end }}
{{- end -}}

{{/* A RoleBinding's or ClusterRoleBinding's subject: the component's
ServiceAccount. */}}
{{- define "akash-janitor.subject" -}}
- kind: ServiceAccount
  name: {{ include "akash-janitor.serviceAccountName" . }}
  namespace: {{ include "akash-janitor.namespace" .root }}
{{- end -}}

{{/*
A Role and its RoleBinding to a component's ServiceAccount, in one
namespace; nothing with rbac.create=false. Call with a dict: "c" the
component's dict, "suffix" of the names, "namespace", "rules" (YAML text),
"comment"; optionally "annotations" (YAML text: the scanners' exemptions,
on both objects).
*/}}
{{- define "akash-janitor.role" -}}
{{- if .c.root.Values.rbac.create }}
---
# {{ .comment }}
apiVersion: rbac.authorization.k8s.io/v1
kind: Role
metadata:
  name: {{ include "akash-janitor.componentName" .c }}{{ .suffix }}
  namespace: {{ .namespace }}
  labels:
    {{- include "akash-janitor.labels" .c | nindent 4 }}
  {{- with .annotations }}
  annotations:
    {{- . | trim | nindent 4 }}
  {{- end }}
rules:
  {{- .rules | trim | nindent 2 }}
---
apiVersion: rbac.authorization.k8s.io/v1
kind: RoleBinding
metadata:
  name: {{ include "akash-janitor.componentName" .c }}{{ .suffix }}
  namespace: {{ .namespace }}
  labels:
    {{- include "akash-janitor.labels" .c | nindent 4 }}
  {{- with .annotations }}
  annotations:
    {{- . | trim | nindent 4 }}
  {{- end }}
roleRef:
  apiGroup: rbac.authorization.k8s.io
  kind: Role
  name: {{ include "akash-janitor.componentName" .c }}{{ .suffix }}
subjects:
  {{- include "akash-janitor.subject" .c | nindent 2 }}
{{- end }}
{{- end -}}

{{/*
A Role that lets a component's ServiceAccount do verbs on one object by
name, and nothing else in its namespace. Call with a dict: "c" the
component's dict, "suffix" of the names, "namespace", "resource", "name",
"verbs" (a list), "comment"; optionally "apiGroup" (the core group when
left out), "create" (true: the component may also create objects of that
resource, which RBAC cannot narrow to a name) and "annotations".
*/}}
{{- define "akash-janitor.namedObjectRole" -}}
{{- $rules := printf "- apiGroups: [%s]\n  resources: [%s]\n  resourceNames: [%s]\n  verbs: [%s]" (.apiGroup | default "" | quote) .resource (.name | quote) (join ", " .verbs) -}}
{{- if .create }}
{{- $rules = printf "%s\n- apiGroups: [%s]\n  resources: [%s]\n  verbs: [create]" $rules (.apiGroup | default "" | quote) .resource -}}
{{- end }}
{{- include "akash-janitor.role" (dict "c" .c "suffix" .suffix "namespace" .namespace "rules" $rules "comment" .comment "annotations" .annotations) }}
{{- end -}}

{{/* Flags every component gets from the chart. */}}
{{- define "akash-janitor.commonArgs" -}}
- --dry-run={{ include "akash-janitor.dryRun" . }}
- --max-actions={{ .values.maxActions }}
- --log-level={{ .root.Values.global.logLevel }}
- --log-format={{ .root.Values.global.logFormat }}
{{- range .args }}
- {{ . | quote }}
{{- end }}
{{- range .values.args }}
- {{ . | quote }}
{{- end }}
{{- end -}}

{{/* Scheduling settings of a component's pods. */}}
{{- define "akash-janitor.scheduling" -}}
{{- with .values.nodeSelector }}
nodeSelector:
  {{- toYaml . | nindent 2 }}
{{- end }}
{{- with .values.tolerations }}
tolerations:
  {{- toYaml . | nindent 2 }}
{{- end }}
{{- with .values.affinity }}
affinity:
  {{- toYaml . | nindent 2 }}
{{- end }}
{{- with .values.priorityClassName | default .root.Values.global.priorityClassName }}
priorityClassName: {{ . }}
{{- end }}
{{- with .root.Values.global.imagePullSecrets }}
imagePullSecrets:
  {{- range . }}
  {{- if kindIs "map" . }}
  - name: {{ .name }}
  {{- else }}
  - name: {{ . }}
  {{- end }}
  {{- end }}
{{- end }}
{{- end -}}

{{/* Environment every component gets, then its extraEnv. */}}
{{- define "akash-janitor.commonEnv" -}}
{{- include "akash-janitor.gomemlimit" . }}
{{- if .pausable }}
- name: JANITOR_PAUSE_NAMESPACE
{{- if .root.Values.global.pauseNamespace }}
  value: {{ .root.Values.global.pauseNamespace | quote }}
{{- else }}
  valueFrom:
    fieldRef:
      fieldPath: metadata.namespace
{{- end }}
- name: JANITOR_PAUSE_CONFIGMAP
  value: {{ .root.Values.global.pauseConfigMap | quote }}
{{- if .root.Values.global.pause }}
- name: JANITOR_PAUSED
  value: "true"
{{- end }}
{{- with .root.Values.global.blockers.prometheus }}
{{- if .url }}
- name: JANITOR_PROMETHEUS_URL
  value: {{ .url | quote }}
{{- end }}
{{- if .alerts }}
- name: JANITOR_BLOCKING_ALERTS
  value: {{ .alerts | quote }}
{{- end }}
{{- end }}
{{- if .needsProvider }}
- name: JANITOR_REQUIRE_READY_POD
  value: {{ .root.Values.global.blockers.providerPod | quote }}
{{- end }}
{{- end }}
{{- with .values.extraEnv }}
{{ toYaml . }}
{{- end }}
{{- end -}}

{{/* GOMEMLIMIT at 90% of the container's memory limit, in bytes: the Go
runtime keeps its heap under it and leaves the rest for what is not heap
(stacks, the runtime itself), so the limit is not met by a garbage that
could have been collected. No limit: no GOMEMLIMIT. */}}
{{- define "akash-janitor.gomemlimit" -}}
{{- $limits := (.values.resources | default dict).limits | default dict -}}
{{- $mem := toString ($limits.memory | default "") -}}
{{- if $mem -}}
{{- $num := regexFind "^[0-9]+(\\.[0-9]+)?" $mem -}}
{{- $unit := trimPrefix $num $mem -}}
{{- $units := dict "" 1 "k" 1000 "M" 1000000 "G" 1000000000 "T" 1000000000000 "Ki" 1024 "Mi" 1048576 "Gi" 1073741824 "Ti" 1099511627776 -}}
{{- if or (not $num) (not (hasKey $units $unit)) -}}
{{- fail (printf "resources.limits.memory %q: want a number with an optional k, M, G, T, Ki, Mi, Gi or Ti" $mem) -}}
{{- end }}
- name: GOMEMLIMIT
  value: {{ mulf (float64 $num) (get $units $unit) 0.9 | floor | int64 | toString | quote }}
{{- end -}}
{{- end -}}
