{{/*
Chart name, truncated to the 63 characters a DNS label allows.
*/}}
{{- define "agency.name" -}}
{{- default .Chart.Name .Values.nameOverride | trunc 63 | trimSuffix "-" }}
{{- end }}

{{/*
Fully qualified app name: "<release>-<chart>", or the release name alone when
it already contains the chart name. Component names append a suffix
("-api", "-worker", ...), so the base is kept to 52 characters.
*/}}
{{- define "agency.fullname" -}}
{{- if .Values.fullnameOverride }}
{{- .Values.fullnameOverride | trunc 52 | trimSuffix "-" }}
{{- else }}
{{- $name := default .Chart.Name .Values.nameOverride }}
{{- if contains $name .Release.Name }}
{{- .Release.Name | trunc 52 | trimSuffix "-" }}
{{- else }}
{{- printf "%s-%s" .Release.Name $name | trunc 52 | trimSuffix "-" }}
{{- end }}
{{- end }}
{{- end }}

{{/*
"<chart>-<version>" for the helm.sh/chart label.
*/}}
{{- define "agency.chart" -}}
{{- printf "%s-%s" .Chart.Name .Chart.Version | replace "+" "_" | trunc 63 | trimSuffix "-" }}
{{- end }}

{{/*
Labels every object carries.
*/}}
{{- define "agency.labels" -}}
helm.sh/chart: {{ include "agency.chart" . }}
{{ include "agency.selectorLabels" . }}
app.kubernetes.io/version: {{ include "agency.imageTag" . | replace "+" "_" | trunc 63 | trimSuffix "-" | quote }}
app.kubernetes.io/managed-by: {{ .Release.Service }}
app.kubernetes.io/part-of: agency
{{- with .Values.commonLabels }}
{{ toYaml . }}
{{- end }}
{{- end }}

{{/*
Labels that identify the release (never change them: Deployment selectors are immutable).
*/}}
{{- define "agency.selectorLabels" -}}
app.kubernetes.io/name: {{ include "agency.name" . }}
app.kubernetes.io/instance: {{ .Release.Name }}
{{- end }}

{{/*
Labels of one component. Call with (dict "ctx" $ "name" "api").
*/}}
{{- define "agency.componentLabels" -}}
{{ include "agency.labels" .ctx }}
app.kubernetes.io/component: {{ .name }}
{{- end }}

{{/*
Selector labels of one component. Call with (dict "ctx" $ "name" "api").
*/}}
{{- define "agency.componentSelectorLabels" -}}
{{ include "agency.selectorLabels" .ctx }}
app.kubernetes.io/component: {{ .name }}
{{- end }}

{{/*
The image tag: image.tag, or the chart's appVersion.
*/}}
{{- define "agency.imageTag" -}}
{{- .Values.image.tag | default .Chart.AppVersion | toString }}
{{- end }}

{{/*
The one image every component runs: "repository:tag", or "repository@digest"
when image.digest is set.
*/}}
{{- define "agency.image" -}}
{{- if .Values.image.digest }}
{{- printf "%s@%s" .Values.image.repository .Values.image.digest }}
{{- else }}
{{- printf "%s:%s" .Values.image.repository (include "agency.imageTag" .) }}
{{- end }}
{{- end }}

{{/*
Name of the ServiceAccount the Deployments use.
*/}}
{{- define "agency.serviceAccountName" -}}
{{- if .Values.serviceAccount.create }}
{{- default (include "agency.fullname" .) .Values.serviceAccount.name }}
{{- else }}
{{- default "default" .Values.serviceAccount.name }}
{{- end }}
{{- end }}

{{/*
Name of the ServiceAccount the migration hook Job uses. A chart-created
ServiceAccount does not exist yet when a pre-install hook runs, so the Job
uses migrations.serviceAccountName, an existing ServiceAccount
(serviceAccount.create=false), or else the namespace's default one.
Empty output means "leave serviceAccountName unset".
*/}}
{{- define "agency.migrationServiceAccountName" -}}
{{- if .Values.migrations.serviceAccountName }}
{{- .Values.migrations.serviceAccountName }}
{{- else if and (not .Values.serviceAccount.create) .Values.serviceAccount.name }}
{{- .Values.serviceAccount.name }}
{{- end }}
{{- end }}

{{/*
Secret the Deployments read: secrets.existingSecret, or the chart's own.
*/}}
{{- define "agency.secretName" -}}
{{- if .Values.secrets.existingSecret }}
{{- .Values.secrets.existingSecret }}
{{- else }}
{{- include "agency.fullname" . }}
{{- end }}
{{- end }}

{{/*
Secret the migration hook Job reads. A chart-created regular Secret does not
exist yet when a pre-install hook runs, so the chart renders a second,
short-lived hook Secret for the Job (deleted once the hooks succeeded).
*/}}
{{- define "agency.migrationSecretName" -}}
{{- if .Values.secrets.existingSecret }}
{{- .Values.secrets.existingSecret }}
{{- else }}
{{- printf "%s-migrations" (include "agency.fullname" .) }}
{{- end }}
{{- end }}

{{/*
Secret holding the owner-role URL for migrations: secrets.existingMigrationSecret,
or the same Secret as the other values.
*/}}
{{- define "agency.migrationUrlSecretName" -}}
{{- if and .Values.secrets.existingSecret .Values.secrets.existingMigrationSecret }}
{{- .Values.secrets.existingMigrationSecret }}
{{- else }}
{{- include "agency.migrationSecretName" . }}
{{- end }}
{{- end }}

{{/*
A list or a comma-separated string, as one comma-separated string.
*/}}
{{- define "agency.commaList" -}}
{{- if kindIs "slice" . }}
{{- join "," . }}
{{- else }}
{{- toString . }}
{{- end }}
{{- end }}

{{/*
Fail early, with every missing value named, when the chart is to create the
Secret but some of its values are empty.
*/}}
{{- define "agency.validateSecrets" -}}
{{- $missing := list }}
{{- if not .Values.secrets.existingSecret }}
{{- range $key := list "databaseUrl" "redisUrl" "secretKey" "encryptionKeys" }}
{{- if not (include "agency.commaList" (index $.Values.secrets $key)) }}
{{- $missing = append $missing (printf "secrets.%s" $key) }}
{{- end }}
{{- end }}
{{- end }}
{{- $media := "" }}
{{- if and (eq .Values.media.storage "s3") (not .Values.media.s3.bucket) }}
{{- $media = " Uploaded media need a store the api and the workers share: set media.s3.bucket, or media.storage=volume (a ReadWriteMany claim)." }}
{{- end }}
{{- if $missing }}
{{- fail (printf "\n\nagency: set %s, or point secrets.existingSecret at a Secret that holds them (keys: secrets.keys).%s" (join ", " $missing) $media) }}
{{- else if $media }}
{{- fail (printf "\n\nagency:%s" $media) }}
{{- end }}
{{- end }}

{{/*
The secret data as "key: base64" lines. Call with (dict "ctx" $ "migrations" bool):
the migration hook Secret also carries the owner-role URL when it is set.
*/}}
{{- define "agency.secretData" -}}
{{- $s := .ctx.Values.secrets }}
{{- $k := $s.keys }}
{{ $k.databaseUrl }}: {{ $s.databaseUrl | b64enc | quote }}
{{ $k.redisUrl }}: {{ $s.redisUrl | b64enc | quote }}
{{ $k.secretKey }}: {{ $s.secretKey | b64enc | quote }}
{{ $k.encryptionKeys }}: {{ include "agency.commaList" $s.encryptionKeys | b64enc | quote }}
{{- if and .migrations $s.databaseMigrationUrl }}
{{ $k.databaseMigrationUrl }}: {{ $s.databaseMigrationUrl | b64enc | quote }}
{{- end }}
{{- range $name := list "smtpPassword" "s3AccessKeyId" "s3SecretAccessKey" "metricsToken" }}
{{- with (index $s $name) }}
{{ index $k $name }}: {{ . | b64enc | quote }}
{{- end }}
{{- end }}
{{- range $network, $secret := $s.networks }}
{{ printf $k.networkClientSecret $network }}: {{ $secret | b64enc | quote }}
{{- end }}
{{- end }}

{{/*
An optional secret value as an env entry: referenced when the chart's Secret holds it (the
value was given), or, from an existing Secret, when its key is there. Call with
(dict "ctx" $ "env" "AGENCY_..." "value" "<the value or empty>" "key" "<key>" "secret" "<name>").
*/}}
{{- define "agency.optionalSecretEnv" -}}
{{- if or .value .ctx.Values.secrets.existingSecret }}
- name: {{ .env }}
  valueFrom:
    secretKeyRef:
      name: {{ .secret }}
      key: {{ .key }}
      {{- if .ctx.Values.secrets.existingSecret }}
      optional: true
      {{- end }}
{{- end }}
{{- end }}


{{/*
Whether a component reads or writes media files: "true" or empty.
*/}}
{{- define "agency.usesMedia" -}}
{{- if and (eq .ctx.Values.media.storage "volume") (has .name (list "api" "worker")) }}true{{ end }}
{{- end }}

{{/*
Environment shared by every container. Call with
(dict "ctx" $ "component" .Values.api "migrations" false).
Secrets are only ever referenced (secretKeyRef), never inlined.
*/}}
{{- define "agency.env" -}}
{{- $v := .ctx.Values }}
{{- $keys := $v.secrets.keys }}
{{- $secret := include "agency.secretName" .ctx }}
{{- if .migrations }}
{{- $secret = include "agency.migrationSecretName" .ctx }}
{{- end }}
- name: AGENCY_DATABASE_URL
  valueFrom:
    secretKeyRef:
      name: {{ $secret }}
      key: {{ $keys.databaseUrl }}
{{- if and .migrations (or $v.secrets.existingSecret $v.secrets.databaseMigrationUrl) }}
- name: AGENCY_DATABASE_MIGRATION_URL
  valueFrom:
    secretKeyRef:
      name: {{ include "agency.migrationUrlSecretName" .ctx }}
      key: {{ $keys.databaseMigrationUrl }}
      {{- if and $v.secrets.existingSecret (not $v.secrets.existingMigrationSecret) }}
      # Optional: without it `agency db upgrade` uses AGENCY_DATABASE_URL.
      optional: true
      {{- end }}
{{- end }}
- name: AGENCY_REDIS_URL
  valueFrom:
    secretKeyRef:
      name: {{ $secret }}
      key: {{ $keys.redisUrl }}
- name: AGENCY_SECRET_KEY
  valueFrom:
    secretKeyRef:
      name: {{ $secret }}
      key: {{ $keys.secretKey }}
- name: AGENCY_ENCRYPTION_KEYS
  valueFrom:
    secretKeyRef:
      name: {{ $secret }}
      key: {{ $keys.encryptionKeys }}
- name: AGENCY_DATABASE_APP_ROLE
  value: {{ $v.config.databaseAppRole | quote }}
{{- with (include "agency.commaList" $v.config.corsOrigins) }}
- name: AGENCY_CORS_ORIGINS
  value: {{ . | quote }}
{{- end }}
{{- with $v.config.publicUrl }}
- name: AGENCY_PUBLIC_URL
  value: {{ . | quote }}
{{- end }}
{{- if eq .name "api" }}
- name: FORWARDED_ALLOW_IPS
  value: {{ .component.forwardedAllowIps | quote }}
{{- end }}
{{- if eq $v.media.storage "s3" }}
- name: AGENCY_MEDIA__STORAGE
  value: s3
- name: AGENCY_MEDIA__S3_BUCKET
  value: {{ $v.media.s3.bucket | quote }}
- name: AGENCY_MEDIA__S3_REGION
  value: {{ $v.media.s3.region | quote }}
{{- with $v.media.s3.endpointUrl }}
- name: AGENCY_MEDIA__S3_ENDPOINT_URL
  value: {{ . | quote }}
{{- end }}
{{- include "agency.optionalSecretEnv" (dict "ctx" .ctx "env" "AGENCY_MEDIA__S3_ACCESS_KEY_ID" "value" $v.secrets.s3AccessKeyId "key" $keys.s3AccessKeyId "secret" $secret) }}
{{- include "agency.optionalSecretEnv" (dict "ctx" .ctx "env" "AGENCY_MEDIA__S3_SECRET_ACCESS_KEY" "value" $v.secrets.s3SecretAccessKey "key" $keys.s3SecretAccessKey "secret" $secret) }}
{{- else }}
- name: AGENCY_MEDIA__STORAGE
  value: local
- name: AGENCY_MEDIA__LOCAL_PATH
  value: {{ $v.media.volume.mountPath | quote }}
{{- end }}
{{- with $v.media.maxUploadBytes }}
- name: AGENCY_MEDIA__MAX_UPLOAD_BYTES
  value: {{ . | quote }}
{{- end }}
{{- range $network, $app := $v.networks }}
{{- $prefix := printf "AGENCY_NETWORKS__%s__" (upper $network) }}
- name: {{ $prefix }}CLIENT_ID
  value: {{ $app.clientId | quote }}
{{- with $app.redirectUri }}
- name: {{ $prefix }}REDIRECT_URI
  value: {{ . | quote }}
{{- end }}
{{- include "agency.optionalSecretEnv" (dict "ctx" $.ctx "env" (printf "%sCLIENT_SECRET" $prefix) "value" (index ($v.secrets.networks | default dict) $network | default "") "key" (printf $keys.networkClientSecret $network) "secret" $secret) }}
{{- end }}
{{- with $v.mail.smtpHost }}
- name: AGENCY_MAIL__SMTP_HOST
  value: {{ . | quote }}
- name: AGENCY_MAIL__SMTP_PORT
  value: {{ $v.mail.smtpPort | quote }}
- name: AGENCY_MAIL__SMTP_SECURITY
  value: {{ $v.mail.smtpSecurity | quote }}
{{- end }}
{{- with $v.mail.smtpUsername }}
- name: AGENCY_MAIL__SMTP_USERNAME
  value: {{ . | quote }}
{{- end }}
{{- include "agency.optionalSecretEnv" (dict "ctx" .ctx "env" "AGENCY_MAIL__SMTP_PASSWORD" "value" $v.secrets.smtpPassword "key" $keys.smtpPassword "secret" $secret) }}
{{- with $v.mail.sender }}
- name: AGENCY_MAIL__SENDER
  value: {{ . | quote }}
{{- end }}
{{- with $v.mail.frontendUrl }}
- name: AGENCY_MAIL__FRONTEND_URL
  value: {{ . | quote }}
{{- end }}
- name: AGENCY_LOGS__FORMAT
  value: {{ $v.observability.logFormat | quote }}
- name: AGENCY_METRICS__ENABLED
  value: {{ $v.observability.metrics.enabled | quote }}
- name: AGENCY_METRICS__PORT
  value: {{ $v.observability.metrics.port | quote }}
{{- include "agency.optionalSecretEnv" (dict "ctx" .ctx "env" "AGENCY_METRICS__TOKEN" "value" $v.secrets.metricsToken "key" $keys.metricsToken "secret" $secret) }}
{{- with $v.observability.otlpEndpoint }}
- name: OTEL_EXPORTER_OTLP_ENDPOINT
  value: {{ . | quote }}
- name: OTEL_SERVICE_NAME
  value: {{ printf "agency-%s" $.name | quote }}
{{- end }}
{{- with $v.extraEnv }}
{{ toYaml . }}
{{- end }}
{{- with .component.extraEnv }}
{{ toYaml . }}
{{- end }}
{{- end }}

{{/*
Container fields shared by every component. Call with
(dict "ctx" $ "component" .Values.api "migrations" false).
*/}}
{{- define "agency.containerCommon" -}}
image: {{ include "agency.image" .ctx | quote }}
imagePullPolicy: {{ .ctx.Values.image.pullPolicy }}
{{- with .ctx.Values.securityContext }}
securityContext:
  {{- toYaml . | nindent 2 }}
{{- end }}
env:
  {{- include "agency.env" . | trim | nindent 2 }}
{{- $envFrom := concat (.ctx.Values.extraEnvFrom | default (list)) (.component.extraEnvFrom | default (list)) }}
{{- with $envFrom }}
envFrom:
  {{- toYaml . | nindent 2 }}
{{- end }}
volumeMounts:
  - name: tmp
    mountPath: /tmp
  {{- if include "agency.usesMedia" . }}
  - name: media
    mountPath: {{ .ctx.Values.media.volume.mountPath }}
  {{- end }}
  {{- with .component.extraVolumeMounts }}
  {{- toYaml . | nindent 2 }}
  {{- end }}
{{- with .component.resources }}
resources:
  {{- toYaml . | nindent 2 }}
{{- end }}
{{- end }}

{{/*
Pod spec fields shared by every component (everything but containers and
restartPolicy). Call with (dict "ctx" $ "component" .Values.api "serviceAccountName" "...").
Scheduling fields of the component replace the top-level ones when set.
*/}}
{{- define "agency.podCommon" -}}
{{- $v := .ctx.Values }}
{{- if .serviceAccountName }}
serviceAccountName: {{ .serviceAccountName }}
{{- end }}
automountServiceAccountToken: {{ $v.serviceAccount.automountServiceAccountToken }}
{{- with $v.imagePullSecrets }}
imagePullSecrets:
  {{- toYaml . | nindent 2 }}
{{- end }}
{{- with $v.podSecurityContext }}
securityContext:
  {{- toYaml . | nindent 2 }}
{{- end }}
{{- with (.component.priorityClassName | default $v.priorityClassName) }}
priorityClassName: {{ . }}
{{- end }}
{{- with (.component.terminationGracePeriodSeconds) }}
terminationGracePeriodSeconds: {{ . }}
{{- end }}
{{- with (.component.nodeSelector | default $v.nodeSelector) }}
nodeSelector:
  {{- toYaml . | nindent 2 }}
{{- end }}
{{- with (.component.affinity | default $v.affinity) }}
affinity:
  {{- toYaml . | nindent 2 }}
{{- end }}
{{- with (.component.tolerations | default $v.tolerations) }}
tolerations:
  {{- toYaml . | nindent 2 }}
{{- end }}
{{- with (.component.topologySpreadConstraints | default $v.topologySpreadConstraints) }}
topologySpreadConstraints:
  {{- toYaml . | nindent 2 }}
{{- end }}
volumes:
  # The root filesystem is read-only; /tmp is the one writable place.
  - name: tmp
    emptyDir:
      {{- with $v.tmpVolume.sizeLimit }}
      sizeLimit: {{ . }}
      {{- else }}
      {}
      {{- end }}
  {{- if include "agency.usesMedia" . }}
  - name: media
    persistentVolumeClaim:
      claimName: {{ .ctx.Values.media.volume.existingClaim | default (printf "%s-media" (include "agency.fullname" .ctx)) }}
  {{- end }}
  {{- with .component.extraVolumes }}
  {{- toYaml . | nindent 2 }}
  {{- end }}
{{- end }}

{{/*
Pod template metadata for a Deployment. Call with
(dict "ctx" $ "name" "api" "component" .Values.api).
*/}}
{{- define "agency.podMetadata" -}}
{{- $v := .ctx.Values }}
{{- $annotations := merge (dict) (.component.podAnnotations | default (dict)) ($v.podAnnotations | default (dict)) }}
{{- if not $v.secrets.existingSecret }}
{{- $_ := set $annotations "checksum/secret" (include (print .ctx.Template.BasePath "/secret.yaml") .ctx | sha256sum) }}
{{- end }}
{{- with $annotations }}
annotations:
  {{- toYaml . | nindent 2 }}
{{- end }}
labels:
  {{- include "agency.componentLabels" (dict "ctx" .ctx "name" .name) | nindent 2 }}
  {{- with (merge (dict) (.component.podLabels | default (dict)) ($v.podLabels | default (dict))) }}
  {{- toYaml . | nindent 2 }}
  {{- end }}
{{- end }}
