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

{{/* The Secret holding the Kafka SASL password, and its key; empty when there is none. */}}
{{- define "osms.kafkaSecretName" -}}
{{- with .Values.kafka.security.sasl -}}
{{- if .existingSecret -}}
{{- .existingSecret -}}
{{- else if .password -}}
{{- printf "%s-kafka" (include "osms.fullname" $) -}}
{{- end -}}
{{- end -}}
{{- end -}}

{{- define "osms.kafkaSecretKey" -}}
{{- if .Values.kafka.security.sasl.existingSecret -}}
{{- .Values.kafka.security.sasl.existingSecretPasswordKey -}}
{{- else -}}
password
{{- end -}}
{{- end -}}

{{/* "true" when the Kafka protocol uses TLS / SASL. */}}
{{- define "osms.kafkaTLS" -}}
{{- if has .Values.kafka.security.protocol (list "SSL" "SASL_SSL") }}true{{ end -}}
{{- end -}}
{{- define "osms.kafkaSASL" -}}
{{- $protocol := .Values.kafka.security.protocol -}}
{{- if not (has $protocol (list "PLAINTEXT" "SSL" "SASL_PLAINTEXT" "SASL_SSL")) -}}
{{- fail (printf "kafka.security.protocol: %q is not one of PLAINTEXT, SSL, SASL_PLAINTEXT, SASL_SSL" $protocol) -}}
{{- end -}}
{{- if has $protocol (list "SASL_PLAINTEXT" "SASL_SSL") -}}
{{- if not (and .Values.kafka.security.sasl.username (include "osms.kafkaSecretName" .)) -}}
{{- fail (printf "kafka.security.protocol %s needs kafka.security.sasl.username and sasl.existingSecret (or sasl.password)" $protocol) -}}
{{- end -}}
true
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
- name: OSMS_TOPIC_PARTITIONS
  value: {{ .Values.kafka.partitions | quote }}
- name: OSMS_TOPIC_REPLICATION_FACTOR
  value: {{ .Values.kafka.replicationFactor | quote }}
- name: OSMS_TOPIC_MIN_INSYNC_REPLICAS
  value: {{ .Values.kafka.minInsyncReplicas | quote }}
- name: OSMS_KAFKA_SECURITY_PROTOCOL
  value: {{ .Values.kafka.security.protocol | quote }}
{{- if include "osms.kafkaSASL" . }}
- name: OSMS_KAFKA_SASL_MECHANISM
  value: {{ .Values.kafka.security.sasl.mechanism | quote }}
- name: OSMS_KAFKA_SASL_USERNAME
  value: {{ .Values.kafka.security.sasl.username | quote }}
- name: OSMS_KAFKA_SASL_PASSWORD
  valueFrom:
    secretKeyRef:
      name: {{ include "osms.kafkaSecretName" . }}
      key: {{ include "osms.kafkaSecretKey" . }}
{{- end }}
{{- if include "osms.kafkaTLS" . }}
{{- with .Values.kafka.security.tls }}
{{- if .caSecret }}
- name: OSMS_KAFKA_SSL_CAFILE
  value: /etc/osms/kafka-ca/{{ .caKey }}
{{- end }}
{{- if .clientSecret }}
- name: OSMS_KAFKA_SSL_CERTFILE
  value: /etc/osms/kafka-client/{{ .certKey }}
- name: OSMS_KAFKA_SSL_KEYFILE
  value: /etc/osms/kafka-client/{{ .keyKey }}
{{- end }}
{{- end }}
{{- end }}
# The migration job migrates; the processes hold rights to their tables only.
- name: OSMS_MIGRATE_ON_START
  value: "false"
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
{{ include "osms.volumes" . }}
{{- end -}}

{{/* The volumes of every osms pod: a writable /tmp, the Kafka CA and client certificate when used. */}}
{{- define "osms.volumes" -}}
volumes:
  - name: tmp
    emptyDir: {}
{{- if include "osms.kafkaTLS" . }}
{{- with .Values.kafka.security.tls }}
{{- if .caSecret }}
  - name: kafka-ca
    secret:
      secretName: {{ .caSecret }}
      items:
        - {key: {{ .caKey }}, path: {{ .caKey }}}
{{- end }}
{{- if .clientSecret }}
  - name: kafka-client
    secret:
      secretName: {{ .clientSecret }}
      # Readable by the pods' group (podSecurityContext.fsGroup), not by others.
      defaultMode: 0440
      items:
        - {key: {{ .certKey }}, path: {{ .certKey }}}
        - {key: {{ .keyKey }}, path: {{ .keyKey }}}
{{- end }}
{{- end }}
{{- end }}
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
{{- if include "osms.kafkaTLS" . }}
{{- if .Values.kafka.security.tls.caSecret }}
  - name: kafka-ca
    mountPath: /etc/osms/kafka-ca
    readOnly: true
{{- end }}
{{- if .Values.kafka.security.tls.clientSecret }}
  - name: kafka-client
    mountPath: /etc/osms/kafka-client
    readOnly: true
{{- end }}
{{- end }}
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
