{{/* The release's name for its objects: <release>-empfio, or the release when it says empfio already. */}}
{{- define "empfio.fullname" -}}
{{- if contains .Chart.Name .Release.Name -}}
{{- .Release.Name | trunc 52 | trimSuffix "-" -}}
{{- else -}}
{{- printf "%s-%s" .Release.Name .Chart.Name | trunc 52 | trimSuffix "-" -}}
{{- end -}}
{{- end -}}

{{- define "empfio.labels" -}}
app.kubernetes.io/name: {{ .Chart.Name }}
app.kubernetes.io/instance: {{ .Release.Name }}
app.kubernetes.io/version: {{ .Values.image.tag | default .Chart.AppVersion | quote }}
app.kubernetes.io/managed-by: {{ .Release.Service }}
helm.sh/chart: {{ printf "%s-%s" .Chart.Name .Chart.Version }}
{{- end -}}

{{/* Selector labels of one component (api, worker). */}}
{{- define "empfio.selector" -}}
app.kubernetes.io/name: {{ .root.Chart.Name }}
app.kubernetes.io/instance: {{ .root.Release.Name }}
app.kubernetes.io/component: {{ .component }}
{{- end -}}

{{- define "empfio.image" -}}
{{ .Values.image.repository }}:{{ .Values.image.tag | default .Chart.AppVersion }}
{{- end -}}

{{- define "empfio.serviceAccount" -}}
{{- if .Values.serviceAccount.create -}}
{{ .Values.serviceAccount.name | default (include "empfio.fullname" .) }}
{{- else -}}
{{ .Values.serviceAccount.name | default "default" }}
{{- end -}}
{{- end -}}

{{/* What every container of the release needs: its settings and credentials. */}}
{{- define "empfio.env" -}}
envFrom:
  - configMapRef:
      name: {{ include "empfio.fullname" . }}
  - secretRef:
      name: {{ required "existingSecret: the name of a Secret with INTERNAL_AUTH_TOKEN, ADMIN_TOKEN and SECRET_ENCRYPTION_KEY" .Values.existingSecret }}
env:
  - name: DATABASE_URL
    valueFrom:
      secretKeyRef:
        name: {{ required "postgres.urlSecret.name: the Secret that holds DATABASE_URL" .Values.postgres.urlSecret.name }}
        key: {{ .Values.postgres.urlSecret.key }}
  {{- if .Values.postgres.readUrlSecret.name }}
  - name: DATABASE_READ_URL
    valueFrom:
      secretKeyRef:
        name: {{ .Values.postgres.readUrlSecret.name }}
        key: {{ .Values.postgres.readUrlSecret.key }}
  {{- end }}
  {{- if .Values.redis.urlSecret.name }}
  - name: REDIS_URL
    valueFrom:
      secretKeyRef:
        name: {{ .Values.redis.urlSecret.name }}
        key: {{ .Values.redis.urlSecret.key }}
  {{- else if not .Values.redis.clusterAddrs }}
  {{- fail "redis: set redis.urlSecret.name (one Redis) or redis.clusterAddrs (a Redis Cluster)" }}
  {{- end }}
  {{- if .Values.redis.clusterAddrs }}
  - name: REDIS_CLUSTER_ADDRS
    value: {{ join "," .Values.redis.clusterAddrs | quote }}
  {{- end }}
  {{- with .Values.extraEnv }}
  {{- toYaml . | nindent 2 }}
  {{- end }}
{{- end -}}
