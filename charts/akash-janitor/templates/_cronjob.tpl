{{/*
One CronJob for any component. Call with a dict:
  root: the chart's root context
  component: the component name (image name and component label)
  values: the component's block of values
  args: the component's own flags (a list)
  hostPaths: (optional) node directories mounted read-only under /host
  runAsRoot: (optional) UID 0, every capability still dropped (to read
    root-only files of the node)
  nodeNameEnv: (optional) JANITOR_NODE_NAME from the pod's node
  volumes, volumeMounts: (optional) more of them, as YAML text
  initContainers: (optional) as YAML text
  containerImage, command: (optional) run the job in another image (see
    akash-janitor.chainSetup)
*/}}
{{- define "akash-janitor.cronjob" -}}
apiVersion: batch/v1
kind: CronJob
metadata:
  name: {{ include "akash-janitor.componentName" . }}
  namespace: {{ include "akash-janitor.namespace" .root }}
  labels:
    {{- include "akash-janitor.labels" . | nindent 4 }}
  {{- include "akash-janitor.workloadAnnotations" . | nindent 2 }}
spec:
  schedule: {{ .values.schedule | quote }}
  {{- with .values.timeZone }}
  timeZone: {{ . | quote }}
  {{- end }}
  {{- if .suspend }}
  # A one-shot: it never runs on the schedule; run it with
  # kubectl create job --from=cronjob/<name> <name>-manual.
  suspend: true
  {{- end }}
  # One run at a time: a run that overlaps the next would act on stale state.
  concurrencyPolicy: Forbid
  startingDeadlineSeconds: {{ .values.startingDeadlineSeconds }}
  successfulJobsHistoryLimit: {{ .values.successfulJobsHistoryLimit }}
  failedJobsHistoryLimit: {{ .values.failedJobsHistoryLimit }}
  jobTemplate:
    metadata:
      labels:
        {{- include "akash-janitor.labels" . | nindent 8 }}
    spec:
      # A failed run is not retried in place: the next schedule runs it
      # afresh, and the failed Job stays for `kubectl logs` and alerts.
      backoffLimit: 0
      activeDeadlineSeconds: {{ .values.activeDeadlineSeconds }}
      template:
        metadata:
          {{- include "akash-janitor.podMetadata" . | nindent 10 }}
        spec:
          serviceAccountName: {{ include "akash-janitor.serviceAccountName" . }}
          restartPolicy: Never
          {{- include "akash-janitor.scheduling" . | nindent 10 }}
          {{- /* runAsRoot: UID 0 only to read the node's root-owned files
          (0600); no capability, no privilege escalation, read-only root
          filesystem. */}}
          {{- if .runAsRoot }}
          {{- $_ := set . "podSecurityDefault" "runAsUser: 0\nrunAsGroup: 0\nrunAsNonRoot: false\nseccompProfile:\n  type: RuntimeDefault" }}
          {{- end }}
          securityContext:
            {{- include "akash-janitor.podSecurityContext" . | nindent 12 }}
          {{- if or .hostPaths .volumes }}
          volumes:
            {{- range $i, $p := .hostPaths }}
            - name: host-{{ $i }}
              hostPath:
                path: {{ $p }}
                type: Directory
            {{- end }}
            {{- with .volumes }}
            {{- . | trim | nindent 12 }}
            {{- end }}
          {{- end }}
          {{- with .initContainers }}
          initContainers:
            {{- . | trim | nindent 12 }}
          {{- end }}
          containers:
            - name: {{ .component }}
              image: {{ .containerImage | default (include "akash-janitor.image" .) }}
              imagePullPolicy: {{ .root.Values.global.image.pullPolicy }}
              {{- with .command }}
              command:
                {{- toYaml . | nindent 16 }}
              {{- end }}
              args:
                {{- include "akash-janitor.commonArgs" . | nindent 16 }}
              {{- if or .hostPaths .volumeMounts }}
              volumeMounts:
                {{- range $i, $p := .hostPaths }}
                - name: host-{{ $i }}
                  mountPath: /host{{ $p }}
                  readOnly: true
                {{- end }}
                {{- with .volumeMounts }}
                {{- . | trim | nindent 16 }}
                {{- end }}
              {{- end }}
              env:
                {{- if .nodeNameEnv }}
                - name: JANITOR_NODE_NAME
                  valueFrom:
                    fieldRef:
                      fieldPath: spec.nodeName
                {{- end }}
                {{- with .root.Values.global.pushgateway.url }}
                - name: JANITOR_PUSHGATEWAY_URL
                  value: {{ . | quote }}
                {{- end }}
                {{- include "akash-janitor.commonEnv" . | nindent 16 }}
              resources:
                {{- toYaml .values.resources | nindent 16 }}
              securityContext:
                {{- include "akash-janitor.containerSecurityContext" . | nindent 16 }}
{{- end -}}
