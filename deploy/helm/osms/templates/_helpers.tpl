{{/* Names, labels and the pieces every osms pod shares. */}}

{{- define "osms.name" -}}
{{- default .Chart.Name .Values.nameOverride | trunc 63 | trimSuffix "-" -}}
{{- end -}}

{{- define "osms.fullname" -}}
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

{{- define "osms.chart" -}}
{{- printf "%s-%s" .Chart.Name .Chart.Version | replace "+" "_" | trunc 63 | trimSuffix "-" -}}
{{- end -}}

{{/* Selector labels of one component: (dict "root" $ "component" "service" "service" "registry"). */}}
{{- define "osms.selectorLabels" -}}
app.kubernetes.io/name: {{ include "osms.name" .root }}
app.kubernetes.io/instance: {{ .root.Release.Name }}
app.kubernetes.io/component: {{ .component }}
{{- with .service }}
osms.kz/service: {{ . }}
{{- end }}
{{- end -}}

{{- define "osms.labels" -}}
helm.sh/chart: {{ include "osms.chart" .root }}
{{ include "osms.selectorLabels" . }}
app.kubernetes.io/version: {{ .root.Chart.AppVersion | quote }}
app.kubernetes.io/part-of: osms
app.kubernetes.io/managed-by: {{ .root.Release.Service }}
{{- end -}}

{{- define "osms.serviceAccountName" -}}
{{- if .Values.serviceAccount.create -}}
{{- default (include "osms.fullname" .) .Values.serviceAccount.name -}}
{{- else -}}
{{- default "default" .Values.serviceAccount.name -}}
{{- end -}}
{{- end -}}

{{- define "osms.image" -}}
{{- printf "%s:%s" .Values.image.repository (default .Chart.AppVersion .Values.image.tag) -}}
{{- end -}}

{{/* The Secret holding the database password, and its key; empty when there is none. */}}
{{- define "osms.databaseSecretName" -}}
{{- if .Values.database.existingSecret -}}
{{- .Values.database.existingSecret -}}
{{- else if .Values.database.password -}}
{{- printf "%s-database" (include "osms.fullname" .) -}}
{{- end -}}
{{- end -}}

{{- define "osms.databaseSecretKey" -}}
{{- if .Values.database.existingSecret -}}
{{- .Values.database.existingSecretPasswordKey -}}
{{- else -}}
password
{{- end -}}
{{- end -}}

{{- define "osms.apiKeysSecretName" -}}
{{- if .Values.apiKeys.existingSecret -}}
{{- .Values.apiKeys.existingSecret -}}
{{- else if .Values.apiKeys.keys -}}
{{- printf "%s-api-keys" (include "osms.fullname" .) -}}
{{- end -}}
{{- end -}}

{{/* The environment of every osms process (services/common/settings.py reads OSMS_*). */}}
{{- define "osms.env" -}}
- name: OSMS_DATABASE_URL
  value: {{ required "database.url is required" .Values.database.url | quote }}
{{- with (include "osms.databaseSecretName" .) }}
- name: PGPASSWORD
  valueFrom:
    secretKeyRef:
      name: {{ . }}
      key: {{ include "osms.databaseSecretKey" $ }}
{{- end }}
- name: OSMS_KAFKA_BOOTSTRAP
  value: {{ required "kafka.bootstrap is required" .Values.kafka.bootstrap | quote }}
- name: OSMS_HOST
  value: "0.0.0.0"
{{- range $name, $value := .Values.env }}
- name: {{ $name }}
  value: {{ $value | toString | quote }}
{{- end }}
{{- with .Values.extraEnv }}
{{ toYaml . }}
{{- end }}
{{- end -}}

{{/* Pod-level settings every osms pod shares. */}}
{{- define "osms.podSpecCommon" -}}
serviceAccountName: {{ include "osms.serviceAccountName" . }}
automountServiceAccountToken: false
{{- with .Values.imagePullSecrets }}
imagePullSecrets:
  {{- toYaml . | nindent 2 }}
{{- end }}
securityContext:
  {{- toYaml .Values.podSecurityContext | nindent 2 }}
{{- with .Values.nodeSelector }}
nodeSelector:
  {{- toYaml . | nindent 2 }}
{{- end }}
{{- with .Values.tolerations }}
tolerations:
  {{- toYaml . | nindent 2 }}
{{- end }}
{{- with .Values.affinity }}
affinity:
  {{- toYaml . | nindent 2 }}
{{- end }}
volumes:
  - name: tmp
    emptyDir: {}
{{- end -}}

{{/* (dict "root" $ "component" ... "service" ...): soft spreading of one Deployment's pods. */}}
{{- define "osms.topologySpread" -}}
{{- if .root.Values.topologySpread.enabled -}}
topologySpreadConstraints:
  - maxSkew: 1
    topologyKey: {{ .root.Values.topologySpread.topologyKey }}
    whenUnsatisfiable: ScheduleAnyway
    labelSelector:
      matchLabels:
        {{- include "osms.selectorLabels" . | nindent 8 }}
{{- end }}
{{- end -}}

{{/* Container-level settings every osms container shares. */}}
{{- define "osms.containerCommon" -}}
image: {{ include "osms.image" . }}
imagePullPolicy: {{ .Values.image.pullPolicy }}
securityContext:
  {{- toYaml .Values.securityContext | nindent 2 }}
volumeMounts:
  - name: tmp
    mountPath: /tmp
{{- end -}}

{{/* (dict "root" $ "component" ... "service" ...): a PodDisruptionBudget for one Deployment. */}}
{{- define "osms.pdb" -}}
{{- if .root.Values.podDisruptionBudget.enabled }}
---
apiVersion: policy/v1
kind: PodDisruptionBudget
metadata:
  name: {{ .name }}
  labels:
    {{- include "osms.labels" . | nindent 4 }}
spec:
  maxUnavailable: {{ .root.Values.podDisruptionBudget.maxUnavailable }}
  selector:
    matchLabels:
      {{- include "osms.selectorLabels" . | nindent 6 }}
{{- end }}
{{- end -}}
