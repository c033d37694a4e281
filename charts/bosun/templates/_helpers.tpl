{{- define "bosun.name" -}}
{{- .Chart.Name | trunc 63 | trimSuffix "-" -}}
{{- end -}}

{{- define "bosun.fullname" -}}
{{- if contains .Chart.Name .Release.Name -}}
{{- .Release.Name | trunc 63 | trimSuffix "-" -}}
{{- else -}}
{{- printf "%s-%s" .Release.Name .Chart.Name | trunc 63 | trimSuffix "-" -}}
{{- end -}}
{{- end -}}

{{/* The labels that select the service's pods (Services, PDB, NetworkPolicy, the operator's Deployment). */}}
{{- define "bosun.selectorLabels" -}}
app.kubernetes.io/name: {{ include "bosun.name" . }}
app.kubernetes.io/instance: {{ .Release.Name }}
{{- end -}}

{{- define "bosun.labels" -}}
helm.sh/chart: {{ printf "%s-%s" .Chart.Name .Chart.Version | replace "+" "_" }}
{{ include "bosun.selectorLabels" . }}
app.kubernetes.io/version: {{ .Chart.AppVersion | quote }}
app.kubernetes.io/managed-by: {{ .Release.Service }}
app.kubernetes.io/part-of: bosun
{{- end -}}

{{- define "bosun.serviceAccountName" -}}
{{- if .Values.serviceAccount.create -}}
{{- default (include "bosun.fullname" .) .Values.serviceAccount.name -}}
{{- else -}}
{{- default "default" .Values.serviceAccount.name -}}
{{- end -}}
{{- end -}}

{{- define "bosun.secretName" -}}
{{- default (printf "%s-secrets" (include "bosun.fullname" .)) .Values.secrets.existingSecret -}}
{{- end -}}

{{- define "bosun.image" -}}
{{- printf "%s:%s" .Values.image.repository (default .Chart.AppVersion .Values.image.tag) -}}
{{- end -}}

{{/* Settings as the pods see them: the chart's ports always win, so probes and Services match. */}}
{{- define "bosun.settings" -}}
{{- $fixed := dict "HOST" "0.0.0.0" "PORT" "8000" "METRICS_PORT" "9100" "GRACEFUL_TIMEOUT" (toString .Values.gracefulShutdownSeconds) -}}
{{- toYaml (merge $fixed .Values.settings) -}}
{{- end -}}

{{/* The load-test Job's pods. A name of their own: with the service's, the release's Services (the headless
one the load test scrapes included) would count the load test's own pod among the service's pods. */}}
{{- define "bosun.loadtestSelectorLabels" -}}
app.kubernetes.io/name: {{ include "bosun.name" . }}-loadtest
app.kubernetes.io/instance: {{ .Release.Name }}
app.kubernetes.io/component: loadtest
{{- end -}}

{{- define "bosun.loadtestLabels" -}}
helm.sh/chart: {{ printf "%s-%s" .Chart.Name .Chart.Version | replace "+" "_" }}
{{ include "bosun.loadtestSelectorLabels" . }}
app.kubernetes.io/version: {{ .Chart.AppVersion | quote }}
app.kubernetes.io/managed-by: {{ .Release.Service }}
app.kubernetes.io/part-of: bosun
{{- end -}}

{{/* The load-test Job's pods, as a NetworkPolicy peer (nothing when the load test is off). */}}
{{- define "bosun.loadtestPeer" -}}
{{- if .Values.loadtest.enabled }}
- podSelector:
    matchLabels:
      {{- include "bosun.loadtestSelectorLabels" . | nindent 6 }}
{{- end }}
{{- end -}}

{{/* The settings ConfigMap, named after its content: a new set of settings is a new ConfigMap, so one the admission
webhook refuses never replaces the one running pods were started with. */}}
{{- define "bosun.settingsConfigMap" -}}
{{- printf "%s-settings-%s" (include "bosun.fullname" .) (include "bosun.settings" . | sha256sum | trunc 10) -}}
{{- end -}}
