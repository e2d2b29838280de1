{{/* Names, labels and the environment every Switchboard container shares. */}}

{{- define "switchboard.name" -}}
{{- default .Chart.Name .Values.nameOverride | trunc 63 | trimSuffix "-" -}}
{{- end -}}

{{- define "switchboard.fullname" -}}
{{- if .Values.fullnameOverride -}}
{{- .Values.fullnameOverride | trunc 63 | trimSuffix "-" -}}
{{- else -}}
{{- $name := default .Chart.Name .Values.nameOverride -}}
{{- if contains $name .Release.Name -}}
{{- .Release.Name | trunc 63 | trimSuffix "-" -}}
{{- else -}}
{{- printf "%s-%s" .Release.Name $name | trunc 63 | trimSuffix "-" -}}
{{- end -}}
{{- end -}}
{{- end -}}

{{/* Resource name of one component: "<fullname>-<component>". */}}
{{- define "switchboard.componentName" -}}
{{- printf "%s-%s" (include "switchboard.fullname" .root) .component | trunc 63 | trimSuffix "-" -}}
{{- end -}}

{{- define "switchboard.chart" -}}
{{- printf "%s-%s" .Chart.Name .Chart.Version | replace "+" "_" | trunc 63 | trimSuffix "-" -}}
{{- end -}}

{{- define "switchboard.image" -}}
{{- printf "%s:%s" .Values.image.repository (default .Chart.AppVersion .Values.image.tag) -}}
{{- end -}}

{{/* Labels of one component; call with (dict "root" $ "component" "routing"). */}}
{{- define "switchboard.labels" -}}
helm.sh/chart: {{ include "switchboard.chart" .root }}
app.kubernetes.io/name: {{ include "switchboard.name" .root }}
app.kubernetes.io/instance: {{ .root.Release.Name }}
app.kubernetes.io/version: {{ .root.Chart.AppVersion | quote }}
app.kubernetes.io/managed-by: {{ .root.Release.Service }}
app.kubernetes.io/part-of: switchboard
app.kubernetes.io/component: {{ .component }}
{{- end -}}

{{- define "switchboard.selectorLabels" -}}
app.kubernetes.io/name: {{ include "switchboard.name" .root }}
app.kubernetes.io/instance: {{ .root.Release.Name }}
app.kubernetes.io/component: {{ .component }}
{{- end -}}

{{- define "switchboard.secretName" -}}
{{- if .Values.secrets.existingSecret -}}
{{- .Values.secrets.existingSecret -}}
{{- else -}}
{{- printf "%s-secrets" (include "switchboard.fullname" .) -}}
{{- end -}}
{{- end -}}

{{/* One key of the Switchboard Secret as an env valueFrom; (dict "root" $ "key" "jwt-secret"). */}}
{{- define "switchboard.secretRef" -}}
valueFrom:
  secretKeyRef:
    name: {{ include "switchboard.secretName" .root }}
    key: {{ .key }}
{{- end -}}

{{/* Every service, in start order, with its HTTP and gRPC ports. */}}
{{- define "switchboard.serviceNames" -}}
admin tickets routing cti ivr recording reporting switch
{{- end -}}

{{- define "switchboard.serviceValues" -}}
{{- if eq .name "switch" -}}
{{- toYaml .root.Values.switch -}}
{{- else -}}
{{- toYaml (index .root.Values.services .name) -}}
{{- end -}}
{{- end -}}

{{/*
Environment shared by every Python container: platform settings, secrets, telemetry and the
address of every service (SB_<NAME>_HTTP, SB_<NAME>_GRPC). Call with (dict "root" $ "name" "routing").
*/}}
{{- define "switchboard.sharedEnv" -}}
{{- $root := .root -}}
- name: POD_NAME
  valueFrom:
    fieldRef:
      fieldPath: metadata.name
- name: POD_NAMESPACE
  valueFrom:
    fieldRef:
      fieldPath: metadata.namespace
- name: SWITCHBOARD_ENV
  value: production
- name: SWITCHBOARD_HOME
  value: /tmp/switchboard
- name: PYTHONDONTWRITEBYTECODE
  value: "1"
- name: LOG_LEVEL
  value: {{ $root.Values.logLevel | quote }}
- name: LOG_FORMAT
  value: json
- name: DATABASE_URL
  {{- include "switchboard.secretRef" (dict "root" $root "key" "database-url") | nindent 2 }}
- name: SWITCHBOARD_INTERNAL_SECRET
  {{- include "switchboard.secretRef" (dict "root" $root "key" "internal-secret") | nindent 2 }}
- name: SWITCHBOARD_JWT_SECRET
  {{- include "switchboard.secretRef" (dict "root" $root "key" "jwt-secret") | nindent 2 }}
- name: KAFKA_BOOTSTRAP_SERVERS
  value: {{ required "kafka.bootstrapServers is required" $root.Values.kafka.bootstrapServers | quote }}
- name: KAFKA_ENABLE_IDEMPOTENCE
  value: {{ $root.Values.kafka.enableIdempotence | quote }}
- name: KAFKA_TOPIC_PARTITIONS
  value: {{ $root.Values.kafka.topicPartitions | quote }}
- name: OTEL_TRACES_EXPORTER
  value: {{ ternary "otlp" "none" $root.Values.otel.enabled | quote }}
- name: OTEL_EXPORTER_OTLP_ENDPOINT
  value: {{ $root.Values.otel.endpoint | quote }}
- name: OTEL_SERVICE_NAME
  value: {{ printf "switchboard-%s" .name | quote }}
- name: OTEL_RESOURCE_ATTRIBUTES
  value: "k8s.namespace.name=$(POD_NAMESPACE),k8s.pod.name=$(POD_NAME)"
{{- range $peer := splitList " " (include "switchboard.serviceNames" $root) }}
{{- $peerValues := include "switchboard.serviceValues" (dict "root" $root "name" $peer) | fromYaml }}
{{- $host := include "switchboard.componentName" (dict "root" $root "component" $peer) }}
- name: {{ printf "SB_%s_HTTP" (upper $peer) }}
  value: {{ printf "http://%s:%v" $host $peerValues.httpPort | quote }}
- name: {{ printf "SB_%s_GRPC" (upper $peer) }}
  value: {{ printf "%s:%v" $host $peerValues.grpcPort | quote }}
{{- end }}
{{- end -}}

{{/*
The service's own listening settings and extra env: (dict "root" $ "name" "routing" "values" $svc),
plus "bindPodIP" true to listen on the pod's address only (host-network pods).
*/}}
{{- define "switchboard.ownEnv" -}}
{{- $prefix := printf "%s_" (upper .name) -}}
{{- range $kind := list "HTTP" "GRPC" }}
- name: {{ $prefix }}{{ $kind }}_HOST
{{- if $.bindPodIP }}
  valueFrom:
    fieldRef:
      fieldPath: status.podIP
{{- else }}
  value: "0.0.0.0"
{{- end }}
{{- end }}
- name: {{ $prefix }}HTTP_PORT
  value: {{ .values.httpPort | quote }}
- name: {{ $prefix }}GRPC_PORT
  value: {{ .values.grpcPort | quote }}
{{- range $key, $value := .values.env }}
- name: {{ $key }}
  value: {{ $value | toString | quote }}
{{- end }}
{{- end -}}

{{/* Probes of a Python service container (port named "http"). */}}
{{- define "switchboard.probes" -}}
startupProbe:
  tcpSocket:
    port: http
  periodSeconds: {{ .Values.probes.startup.periodSeconds }}
  failureThreshold: {{ .Values.probes.startup.failureThreshold }}
readinessProbe:
  httpGet:
    path: /health
    port: http
  periodSeconds: {{ .Values.probes.readiness.periodSeconds }}
  timeoutSeconds: {{ .Values.probes.readiness.timeoutSeconds }}
  failureThreshold: {{ .Values.probes.readiness.failureThreshold }}
livenessProbe:
  httpGet:
    path: /health
    port: http
  periodSeconds: {{ .Values.probes.liveness.periodSeconds }}
  timeoutSeconds: {{ .Values.probes.liveness.timeoutSeconds }}
  failureThreshold: {{ .Values.probes.liveness.failureThreshold }}
{{- end -}}
