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
{{- if not .Values.secrets.existingSecret }}
{{- $missing := list }}
{{- range $key := list "databaseUrl" "redisUrl" "secretKey" "encryptionKeys" }}
{{- if not (include "agency.commaList" (index $.Values.secrets $key)) }}
{{- $missing = append $missing (printf "secrets.%s" $key) }}
{{- end }}
{{- end }}
{{- if $missing }}
{{- fail (printf "\n\nagency: set %s, or point secrets.existingSecret at a Secret that holds them (keys: secrets.keys)." (join ", " $missing)) }}
{{- end }}
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
